"""`mien video` and `mien live` as jobs (workflows/video.py, workflows/live.py): tables, overlays, plots, resume,
errors and exit codes on real clips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mien.cli import main
from mien.video.reader import read_video


def test_cli_video_writes_rows_summary_overlay_and_plots(tmp_path, pyfeat_media):
    out = tmp_path / "frames.csv"
    code = main(["video", str(pyfeat_media / "single_face.mp4"), "-o", str(out), "--overlay", str(tmp_path / "ov.mp4"),
                 "--plots", str(tmp_path / "plots"), "--threads", "2", "-q"])
    assert code == 0
    rows = pd.read_csv(out)
    assert len(rows) == 72 and "track_id" in rows and "expr_smooth_happy" in rows
    summary = pd.read_csv(tmp_path / "frames_summary.csv")
    assert summary["track_id"].tolist() == [0] and summary.loc[0, "frames"] == 72
    assert len(list(read_video(tmp_path / "ov.mp4"))) == 72
    assert (tmp_path / "plots" / "single_face_track0.png").stat().st_size > 10_000


def test_bad_videos_give_error_rows_and_the_batch_goes_on(tmp_path, pyfeat_media):
    import av

    whole = (pyfeat_media / "WolfgangLanger_Pexels.mp4").read_bytes()  # index at the start: decodable prefix
    (tmp_path / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 50)
    with av.open(str(tmp_path / "audio_only.mp4"), "w") as container:  # no video stream
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    inputs = ["truncated.mp4", "empty.mp4", "text.mp4", "audio_only.mp4"]
    out = tmp_path / "rows.jsonl"
    code = main(["video", *[str(tmp_path / n) for n in inputs], str(pyfeat_media / "single_face.mp4"),
                 "-o", str(out), "--every", "4", "--threads", "2", "-q"])
    assert code == 1
    rows = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    errors = rows[rows["error"].fillna("") != ""].set_index("input")["error"]
    truncated = rows[rows["input"] == str(tmp_path / "truncated.mp4")]
    assert truncated["success"].sum() > 10 and "decoding stopped" in errors[str(tmp_path / "truncated.mp4")]
    assert "empty file" in errors[str(tmp_path / "empty.mp4")]
    assert "cannot open video" in errors[str(tmp_path / "text.mp4")]
    assert "no video stream" in errors[str(tmp_path / "audio_only.mp4")]
    assert (rows[rows["input"] == str(pyfeat_media / "single_face.mp4")]["success"] == 1).sum() == 18


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path, pyfeat_media, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "-o", str(blocker / "rows.csv"), "-q"]) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "x" and not (tmp_path / "a_file_summary.csv").exists()


def test_interrupted_run_keeps_rows_and_resume_equals_a_clean_run(analyzer, tmp_path, pyfeat_media):
    from mien.io.writers import TableWriter
    from mien.workflows.video import VideoOutputs, run_videos, video_columns
    from mien.video.pipeline import VideoOptions

    clip = str(pyfeat_media / "single_face.mp4")
    clean = tmp_path / "clean.csv"
    assert main(["video", clip, "-o", str(clean), "--threads", "2", "-q"]) == 0

    class InterruptAfter:
        def __init__(self, frames: int) -> None:
            self.left = frames

        def update(self, n: int) -> None:
            self.left -= n
            if self.left == 0:
                raise KeyboardInterrupt

    partial = tmp_path / "partial.csv"
    table = TableWriter(partial, video_columns())
    with pytest.raises(KeyboardInterrupt):
        with table:
            run_videos(analyzer, [clip], VideoOptions(), VideoOutputs(table=table), progress=InterruptAfter(30))
    assert len(pd.read_csv(partial)) == 30  # committed, whole rows
    assert main(["video", clip, "-o", str(partial), "--resume", "--threads", "2", "-q"]) == 0
    resumed, expected = pd.read_csv(partial), pd.read_csv(clean)
    assert resumed["frame"].tolist() == list(range(72)) and resumed["track_id"].tolist() == [0] * 72
    numeric = [c for c in expected if expected[c].dtype.kind == "f"]
    np.testing.assert_allclose(resumed[numeric].to_numpy(), expected[numeric].to_numpy(), atol=1e-4)
    assert pd.read_csv(tmp_path / "partial_summary.csv").loc[0, "frames"] == 72


def test_live_mode_with_a_file_source(tmp_path, pyfeat_media):
    out = tmp_path / "live.csv"
    assert main(["live", "--source", str(pyfeat_media / "single_face.mp4"), "-o", str(out), "--display", "no",
                 "--overlay", str(tmp_path / "live.mp4"), "--threads", "2", "-q"]) == 0
    assert len(pd.read_csv(out)) == 72 and len(list(read_video(tmp_path / "live.mp4"))) == 72


def test_live_mode_ctrl_c_keeps_every_row(analyzer, tmp_path, pyfeat_media):
    from mien.io.writers import TableWriter
    from mien.workflows.video import video_columns
    from mien.video.sources import live_frames
    from mien.workflows.live import run_live
    from mien.video.pipeline import VideoOptions

    def interrupted(frames):
        for count, frame in enumerate(frames):
            if count == 10:
                raise KeyboardInterrupt
            yield frame

    out = tmp_path / "live.csv"
    with TableWriter(out, video_columns()) as table:
        report = run_live(analyzer, interrupted(live_frames(str(pyfeat_media / "single_face.mp4"))), VideoOptions(), table)
    assert report.interrupted and report.frames == 10 and len(pd.read_csv(out)) == 10


def test_no_crops_refuses_pixel_outputs(tmp_path, pyfeat_media):
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "-o", str(tmp_path / "r.csv"), "--no-crops",
                 "--overlay", str(tmp_path / "o.mp4"), "-q"]) == 2
    assert not (tmp_path / "o.mp4").exists()


def test_videos_with_the_same_name_keep_separate_overlays_and_plots(tmp_path, pyfeat_media):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "clip.mp4").write_bytes((pyfeat_media / "single_face.mp4").read_bytes())
    assert main(["video", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "r.csv"), "--every", "12",
                 "--overlay", str(tmp_path / "ov"), "--plots", str(tmp_path / "plots"), "--threads", "2", "-q"]) == 0
    assert sorted(p.relative_to(tmp_path / "ov").as_posix() for p in (tmp_path / "ov").rglob("*.mp4")) == \
        ["a/clip.overlay.mp4", "b/clip.overlay.mp4"]
    assert len(list((tmp_path / "plots").rglob("*_track0.png"))) == 2  # one timeline each (beside affect plots)


def written_rows(intensity: bool) -> pd.DataFrame:
    """Two frames of one face as a table already written by `mien video` (with `--aus mesh`: AUxx_r too)."""
    from mien.schema import AU_INTENSITY_COLUMNS, AU_PROBABILITY_COLUMNS, EXPRESSION_COLUMNS, SMOOTH_COLUMNS

    rows = pd.DataFrame({"frame": [0, 1], "timestamp": [0.0, 0.04], "success": [1, 1], "track_id": [0, 0],
                         "face_x": [10.0, 11.0], "face_y": [10.0, 10.0], "face_width": [20.0, 20.0],
                         "face_height": [20.0, 20.0], "valence": [0.1, 0.2], "arousal": [0.0, -0.1]})
    for column in EXPRESSION_COLUMNS + SMOOTH_COLUMNS:
        rows[column] = 1 / 8
    for column in AU_PROBABILITY_COLUMNS:
        rows[column] = [0.5, 0.6]
    if intensity:
        for k, column in enumerate(AU_INTENSITY_COLUMNS):
            rows[column] = [k / 4, 5 - k / 4]
    return rows


def test_resume_reads_the_au_intensities_back_for_the_plots():
    from mien.schema import AUS
    from mien.video.summary import TrackSummary
    from mien.workflows.video import replay

    summary = TrackSummary("clip.mp4", keep_series=True)
    assert replay([written_rows(intensity=True)], summary, max_missed=1.0)[0] == 1
    steps = np.arange(len(AUS)) / 4
    np.testing.assert_allclose(summary.au_intensity_series(0), [steps, 5 - steps])
    np.testing.assert_allclose(summary.au_series(0), [[0.5] * len(AUS), [0.6] * len(AUS)], rtol=1e-6)
    appearance = TrackSummary("clip.mp4", keep_series=True)  # a table without AUxx_r: not measured
    replay([written_rows(intensity=False)], appearance, max_missed=1.0)
    assert appearance.au_intensity_series(0).shape == (2, len(AUS)) and np.isnan(appearance.au_intensity_series(0)).all()
