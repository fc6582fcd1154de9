"""Video analysis (Analyzer.analyze_video, mien.video.reader) on the real clips in media/, plus synthetic videos with
known answers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

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


@pytest.mark.parametrize("keep_series", [True, False])
def test_keep_series_keeps_each_tracks_series_for_the_figures(analyzer, pyfeat_media, keep_series):
    """With keep_series the stream's track summary holds, per track, what was computed for each frame (the
    track figures draw it); without it only the totals."""
    from mien.schema import AU_PROBABILITY_COLUMNS, EXPRESSIONS

    stream = analyzer.analyze_video(pyfeat_media / "single_face.mp4", end=0.3, keep_series=keep_series)
    rows = stream.to_pandas()
    summary = stream.track_summary
    assert 3 <= len(rows) <= 10 and rows["track_id"].unique().tolist() == [0] and list(summary.tracks) == [0]
    assert stream.summary().loc[0, "frames"] == len(rows)
    if not keep_series:
        assert summary.times(0).shape == (0,) and summary.au_series(0).shape == (0, 17)
        return
    np.testing.assert_allclose(summary.times(0), rows["timestamp"], atol=1e-6)
    smoothed = rows[[f"expr_smooth_{name}" for name in EXPRESSIONS]].to_numpy(float)
    np.testing.assert_allclose(summary.series(0)[:, 1:], smoothed, atol=1e-6)
    aus = summary.au_series(0)
    assert aus.shape == (len(rows), 17) and np.isfinite(aus).all()  # the shipped model has an AU head
    np.testing.assert_allclose(aus, rows[list(AU_PROBABILITY_COLUMNS)].to_numpy(float), atol=1e-6)


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


def test_a_start_after_the_end_is_an_error_frame_not_silence(pyfeat_media):
    clip = str(pyfeat_media / "single_face.mp4")  # 72 frames at 30 fps: 2.4 s
    frames = list(read_video(clip, Sampling(start=100.0)))
    assert len(frames) == 1 and frames[0].image is None
    assert frames[0].error == f"{clip}: no frame at or after the start (100 s): the video lasts 2.40 s"
    assert [f.error for f in read_video(clip, Sampling(start=2.3))] == ["", "", ""]  # the last frames, no error


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


def test_detection_every_k_frames_keeps_the_track(analyzer, pyfeat_media):
    every_frame = analyzer.analyze_video(pyfeat_media / "single_face.mp4").to_pandas()
    every_fifth = analyzer.analyze_video(pyfeat_media / "single_face.mp4", detect_every=5).to_pandas()
    assert every_fifth["success"].all() and every_fifth["track_id"].unique().tolist() == [0]
    # faces re-found in small regions agree with full detection
    difference = np.abs(every_fifth["lm5_x_2"] - every_frame["lm5_x_2"]) / every_frame["face_size"]
    assert difference.median() < 0.03


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
