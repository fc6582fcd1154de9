"""`mien video` and `mien batch` honour --max-pixels."""

from __future__ import annotations

import json


from builders import png_frames_video


# --------------------------------------------------------------------------- videos and the pixel limit


def test_cli_video_honours_max_pixels(tmp_path):
    from mien.cli import main

    path = png_frames_video(tmp_path / "clip.mov", [(200, 100)] * 3)
    out = tmp_path / "rows.jsonl"
    assert main(["video", str(path), "-o", str(out), "--max-pixels", "10000", "--threads", "1", "-q"]) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["success"] == 0
    assert "200x100" in rows[0]["error"] and "above the limit of 0.01 megapixels" in rows[0]["error"]


def test_batch_segments_honour_max_pixels(tmp_path):
    """Every segment, the first (read by read_video) and later ones (seeking), checks the declared size
    before decoding and each decoded frame after."""
    from mien.batch.segments import read_segment
    from mien.video.reader import Sampling

    path = png_frames_video(tmp_path / "clip.mov", [(200, 100)] * 30)  # 3 s at 10 fps
    for sampling in (Sampling(end=1.0), Sampling(start=1.0, end=2.0), Sampling(start=2.0)):
        frames = list(read_segment(path, sampling, max_pixels=10_000, last=sampling.end is None))
        assert len(frames) == 1 and frames[0].image is None, sampling
        assert "200x100" in frames[0].error and "above the limit of 0.01 megapixels" in frames[0].error
        assert len(list(read_segment(path, sampling, max_pixels=20_000))) == 10
    # frames larger than the header says, after a seek: skipped and counted
    sizes = [(100, 80)] * 12 + [(400, 300), (100, 80), (100, 80)]
    growing = png_frames_video(tmp_path / "growing.mov", sizes)
    frames = list(read_segment(growing, Sampling(start=1.0), max_pixels=100_000))
    assert {f.image.shape for f in frames[:-1]} == {(80, 100, 3)} and frames[0].index == 10
    assert frames[-1].image is None and "1 frame(s) above the limit of 0.1 megapixels" in frames[-1].error


def test_cli_batch_honours_max_pixels(tmp_path, capsys):
    import pandas as pd

    from mien.batch import read_batch
    from mien.cli import main

    folder = tmp_path / "corpus"
    folder.mkdir()
    path = png_frames_video(folder / "clip.mov", [(200, 100)] * 30)
    output = tmp_path / "out"
    code = main(["batch", str(folder), "--output", str(output), "--max-pixels", "10000", "--segment-seconds", "1",
                 "--overlap", "0.5", "--num-workers", "1", "--threads-per-worker", "1", "-q"])
    assert code == 1, capsys.readouterr().err
    status = pd.read_csv(output / "manifest.csv", keep_default_na=False).set_index("input")
    assert status.loc[str(path), "status"] == "failed"
    assert "200x100" in status.loc[str(path), "error"] and "0.01 megapixels" in status.loc[str(path), "error"]
    rows = read_batch(output)
    assert len(rows) == 1 and rows["success"].tolist() == [0] and "above the limit" in rows["error"][0]
