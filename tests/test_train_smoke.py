"""A tiny real training run on FER+ images, exported to ONNX and used by the pipeline (needs PyTorch)."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.train


def test_train_export_and_analyze(tmp_path, datasets, pyfeat_media):
    from mien import Analyzer
    from mien.train.export import export_onnx
    from mien.train.expression import main as train_main

    run = tmp_path / "run"
    train_main(["--root", str(datasets / "ferplus"), "--out", str(run), "--epochs", "2", "--limit", "64",
                "--batch-size", "32", "--size", "48", "--threads", "2"])
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and all(np.isfinite(l["train_loss"]) for l in lines)
    assert (run / "best.pt").exists() and (run / "last.pt").exists()

    train_main(["--root", str(datasets / "ferplus"), "--out", str(run), "--epochs", "3", "--limit", "64",
                "--batch-size", "32", "--size", "48", "--threads", "2", "--resume"])
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3  # resumed, not restarted

    onnx_path = export_onnx(run / "best.pt", tmp_path / "tiny.onnx", {"note": "smoke test"})
    result = Analyzer(expression=str(onnx_path), threads=2).analyze(str(pyfeat_media / "single_face.jpg"))
    assert len(result) == 1
    np.testing.assert_allclose(result.expression_probs.sum(), 1.0, atol=1e-5)
