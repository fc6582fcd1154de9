"""Out-of-range options are usage errors on the command line and refused by the server."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mien.cli import main
from mien.config import AnalyzerConfig


def write_jpeg(path: str | bytes | Path, value: int = 128, size: int = 64) -> None:
    """A small grey JPEG (no face: its row has success 0 and no error)."""
    ok, encoded = cv2.imencode(".jpg", np.full((size, size, 3), value, np.uint8))
    assert ok
    with open(path, "wb") as handle:
        handle.write(encoded.tobytes())


# ---------------------------------------------------------------------------------------- 12: options
@pytest.mark.parametrize("flag, value, expected", [
    ("--det-max-size", "0", "at least 32"), ("--det-max-size", "-5", "at least 32"),
    ("--det-threshold", "5", "in (0, 1]"), ("--det-threshold", "-1", "in (0, 1]"),
    ("--max-pixels", "-1", "at least 1"), ("--batch-size", "0", "at least 1"), ("--threads", "0", "at least 1")])
def test_numeric_options_out_of_range_are_usage_errors(tmp_path, capsys, flag, value, expected):
    write_jpeg(tmp_path / "a.jpg")
    assert main(["analyze", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "r.csv"), flag, value, "-q"]) == 2
    error = capsys.readouterr().err
    assert flag in error and expected in error
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("argv", [["video", "x.mp4", "--every", "0"], ["video", "x.mp4", "--fps", "-2"],
                                  ["video", "x.mp4", "--smooth", "-1"], ["video", "x.mp4", "--start", "5", "--end", "2"],
                                  ["batch", "x", "-o", "out", "--det-threshold", "5"],
                                  ["batch", "x", "-o", "out", "--chunk-size", "0"],
                                  ["serve", "--data-dir", "out", "--concurrency", "0"],
                                  ["serve", "--data-dir", "out", "--max-pixels", "0"]])
def test_video_batch_and_serve_options_out_of_range_are_usage_errors(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert argv[-2] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value, flag", [
    ("analyze_concurrency", 0, "--concurrency (concurrency) must be a whole number of at least 1, got 0"),
    ("max_pixels", -1, "--max-pixels (max_pixels) must be a whole number of at least 1, got -1"),
    ("max_queued_jobs", 0, "--queue-size (queue_size) must be a whole number of at least 1, got 0"),
    ("request_timeout", 0.0, "--timeout (timeout) must be a number above 0, got 0.0"),
    ("keep_uploads", -1.0, "--keep-uploads (keep_uploads) must be a number of at least 0, got -1.0"),
    ("max_video_bytes", 0, "--max-video-mb (max_video_mb) must be a number above 0, got 0.0")])
def test_server_limits_check_the_command_line_ranges(tmp_path, monkeypatch, capsys, field, value, flag):
    from mien.serve.limits import Limits

    with pytest.raises(ValueError) as refused:
        Limits(**{field: value})
    assert str(refused.value) == flag
    monkeypatch.chdir(tmp_path)
    option = flag.split()[0]
    if option not in ("--max-video-mb",):  # (the command line takes megabytes)
        assert main(["serve", "--data-dir", "out", option, str(value)]) == 2
        assert flag in capsys.readouterr().err


@pytest.mark.parametrize("query, message", [
    ("every=0", "--every (every) must be a whole number of at least 1, got 0"),
    ("fps=0", "--fps (fps) must be a number above 0, got 0.0"),
    ("fps=nan", "--fps (fps) must be a number above 0, got nan"),
    ("detect_every=0", "--detect-every (detect_every) must be a whole number of at least 1, got 0"),
    ("smooth=-1", "--smooth (smooth) must be a number of at least 0, got -1.0"),
    ("detect_every=1001", "--detect-every (detect_every) must be a whole number in [1, 1000], got 1001"),
    ("smooth=inf", "--smooth (smooth) must be a number in [0, 3600], got inf")])
def test_server_video_parameters_are_checked_like_the_command_line(tmp_path, query, message):
    from fastapi.testclient import TestClient

    from mien.serve.app import ServeConfig, create_app

    config = ServeConfig(data_dir=tmp_path / "serve", analysis=AnalyzerConfig(threads=1), video_worker=False)
    with TestClient(create_app(config)) as client:
        reply = client.post(f"/v1/videos?{query}", content=b"not read: the parameters are checked first")
        assert reply.status_code == 422 and reply.json()["message"] == message
        assert client.get("/healthz").status_code == 200
    assert not list((tmp_path / "serve").rglob("*.part"))  # no upload was accepted
