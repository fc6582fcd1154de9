"""The public names users build on: removing or renaming one must be a deliberate, visible change."""

import subprocess
import sys

import mien

PUBLIC = {"Analyzer", "Result", "analyze", "list_models", "read", "read_image", "EXPRESSIONS", "__version__"}
ANALYZER_METHODS = {"analyze", "iter_results", "stream", "analyze_image", "analyze_frames", "analyze_video"}
RESULT_METHODS = {"to_pandas", "to_csv", "to_json", "to_parquet", "to_records", "merge", "columns"}


def test_public_names_exist():
    assert set(mien.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(mien, name) is not None
    assert ANALYZER_METHODS <= set(dir(mien.Analyzer))
    assert RESULT_METHODS <= set(dir(mien.Result))


def test_import_is_light():
    """``import mien`` loads neither onnxruntime, OpenCV nor PyAV (they load on first use)."""
    code = "import sys, mien; print(sorted(m for m in ('onnxruntime', 'cv2', 'av', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
