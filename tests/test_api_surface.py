"""The public names users build on: removing or renaming one must be a deliberate, visible change."""

import subprocess
import sys

import pytest

import mien

PUBLIC = {"Analyzer", "AnalyzerConfig", "VideoOptions", "Result", "Detections", "analyze", "read_image",
          "read_foreign", "register", "list_models", "ModelSpec", "schema", "__version__"}
ANALYZER_METHODS = {"analyze", "iter_results", "stream", "analyze_video", "from_config"}
RESULT_METHODS = {"to_pandas", "to_csv", "to_json", "to_parquet", "to_records", "merge", "columns"}


def test_public_names_exist():
    assert set(mien.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(mien, name) is not None
    assert ANALYZER_METHODS <= set(dir(mien.Analyzer))
    assert RESULT_METHODS <= set(dir(mien.Result))
    assert mien.schema.EXPRESSIONS[0] == "neutral"


def test_old_names_still_work_with_a_warning(pyfeat_media):
    with pytest.warns(DeprecationWarning, match="mien.read is deprecated; use mien.read_foreign"):
        read = mien.read
    assert read is mien.read_foreign
    with pytest.warns(DeprecationWarning, match="analyze_image is deprecated"):
        from mien.io.images import read_image

        analyzer = mien.Analyzer(threads=1)
        table = analyzer.analyze_image(read_image(pyfeat_media / "single_face.jpg")).to_pandas()
    assert len(table) == 1 and table.iloc[0]["input"] == "<array>"


def test_predict_all_is_an_alias_of_predict_heads():
    import numpy as np

    model = mien.Analyzer(threads=1).expression
    crops = np.full((2, model.crop.size, model.crop.size, 3), 90, np.uint8)
    with pytest.warns(DeprecationWarning, match="use predict_heads"):
        old = model.predict_all(crops)
    new = model.predict_heads(crops)
    assert np.array_equal(old.expressions, new.expressions) and np.array_equal(old.aus, new.aus)


def test_import_is_light():
    """``import mien`` loads neither onnxruntime, OpenCV nor PyAV (they load on first use)."""
    code = "import sys, mien; print(sorted(m for m in ('onnxruntime', 'cv2', 'av', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
