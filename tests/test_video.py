"""Video end to end on the real clips in media/, plus synthetic videos with known answers."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from mien.cli import main
from mien.video.reader import Sampling, probe, read_video


@pytest.fixture(scope="module")
def single_face_rows(analyzer, pyfeat_media):
    stream = analyzer.analyze_video(pyfeat_media / "single_face.mp4")
    return stream.to_pandas(), stream.summary()


def test_single_face_clip_is_one_track_over_72_frames(single_face_rows):
    rows, summary = single_face_rows
    assert len(rows) == 72 and rows["success"].all()
    assert rows["frame"].tolist() == list(range(72))
    assert rows["track_id"].unique().tolist() == [0]
    assert np.all(np.diff(rows["timestamp"]) > 0)
    assert len(summary) == 1 and summary.loc[0, "frames"] == 72 and summary.loc[0, "last_frame"] == 71
    smoothed = rows[[c for c in rows if c.startswith("expr_smooth_")]].to_numpy(float)
    np.testing.assert_allclose(smoothed.sum(1), 1, atol=1e-5)
    raw = rows[[c for c in rows if c.startswith("expr_") and not c.startswith("expr_smooth")]].to_numpy(float)
    assert np.abs(np.diff(smoothed, axis=0)).mean() < np.abs(np.diff(raw, axis=0)).mean()  # smoother


@pytest.mark.parametrize("name,face_first", [("face_noface.mov", True), ("noface_face.mov", False)])
def test_rows_for_every_frame_and_faces_only_in_the_face_segment(analyzer, pyfeat_media, name, face_first):
    rows = analyzer.analyze_video(pyfeat_media / name).to_pandas()
    assert len(rows) == 169 and rows["frame"].tolist() == list(range(169))
    has_face = rows.groupby("frame")["success"].max().to_numpy().astype(bool)
    with_face = np.flatnonzero(has_face)
    first, last = with_face.min(), with_face.max()
    if face_first:  # faces from the start until the cut, none after
        assert first <= 2 and 40 < last < 130
    else:  # none until the cut, faces from there to the end (the last frame or two may fade)
        assert 40 < first < 130 and last >= 165
    assert has_face[first:last + 1].mean() > 0.95


def test_cartoon_only_clip_gives_rows_without_faces(analyzer, pyfeat_media):
    rows = analyzer.analyze_video(pyfeat_media / "no_face.mp4").to_pandas()
    assert len(rows) == 95 and not rows["success"].any() and (rows["error"] == "").all()


def test_long_clip_runs_in_flat_memory(analyzer, datasets):
    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    stream = analyzer.analyze_video(datasets / "media" / "liveportrait" / "d6.mp4", detect_every=5)
    frames, after_100, later = 0, None, []
    for _ in stream:
        frames += 1
        if frames == 100:
            after_100 = rss_mb()
        elif frames > 100:
            later.append(rss_mb())
    assert frames == 1008
    assert max(later) - after_100 < 40, f"RSS grew from {after_100:.0f} MB to {max(later):.0f} MB"


def test_sampling_options(pyfeat_media):
    clip = pyfeat_media / "single_face.mp4"  # 72 frames at 30 fps
    assert [f.index for f in read_video(clip, Sampling(every=10))] == [0, 10, 20, 30, 40, 50, 60, 70]
    assert len(list(read_video(clip, Sampling(fps=10)))) == 24
    assert [f.index for f in read_video(clip, Sampling(start=1.0, end=1.2))] == [30, 31, 32, 33, 34, 35]


def test_variable_frame_rate_timestamps_come_from_the_stream(tmp_path):
    import av

    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for pts in (0, 1, 3, 7, 8):  # irregular spacing
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 100, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    times = [round(f.timestamp, 3) for f in read_video(path)]
    assert times == [0.0, 0.1, 0.3, 0.7, 0.8]


def test_display_rotation_is_applied(tmp_path):
    import av

    path = tmp_path / "rotated.mp4"
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :32] = 255  # left half white
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)  # players turn it 90 degrees counter-clockwise
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frame = next(read_video(path))
    assert frame.image.shape == (64, 32, 3)
    assert frame.image[:32].mean() < 40 and frame.image[32:].mean() > 215  # white half now at the bottom
    assert probe(path).rotation == 90 and (probe(path).width, probe(path).height) == (32, 64)


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


def test_detection_every_k_frames_keeps_the_track(analyzer, pyfeat_media):
    every_frame = analyzer.analyze_video(pyfeat_media / "single_face.mp4").to_pandas()
    every_fifth = analyzer.analyze_video(pyfeat_media / "single_face.mp4", detect_every=5).to_pandas()
    assert every_fifth["success"].all() and every_fifth["track_id"].unique().tolist() == [0]
    # faces re-found in small regions agree with full detection
    difference = np.abs(every_fifth["lm5_x_2"] - every_frame["lm5_x_2"]) / every_frame["face_size"]
    assert difference.median() < 0.03


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


def test_unwritable_output_exits_3(tmp_path, pyfeat_media):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["video", str(pyfeat_media / "single_face.mp4"), "-o", str(blocker / "rows.csv"), "-q"]) == 3


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


@pytest.mark.parametrize("mode", ["box", "pixelate", "blur"])
def test_anonymized_overlays_hide_the_face(analyzer, pyfeat_media, mode):
    from mien.io.images import read_image
    from mien.viz.draw import draw_faces

    image = read_image(pyfeat_media / "single_face.jpg")
    result = analyzer.analyze(image)
    x1, y1, x2, y2 = result.boxes[0].astype(int)
    inner = (slice(y1 + 10, y2 - 10), slice(x1 + 10, x2 - 10))
    drawn = draw_faces(image, result, 0, anonymize=mode)
    original, hidden = image[inner].astype(float), drawn[inner].astype(float)
    # the identity-bearing detail (local contrast) is gone
    detail = lambda a: np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert detail(hidden) < 0.35 * detail(original)
    assert len(analyzer.analyze(drawn)) == 0 or mode != "box"


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
