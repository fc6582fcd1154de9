"""Reliability probes for video decoding: declared and real frame sizes against max_pixels."""

from __future__ import annotations

import pytest

from builders import peak_growth_bytes, png_frames_video


# --------------------------------------------------------------------------- videos and the pixel limit


def test_a_video_declared_above_the_limit_is_refused_before_decoding(tmp_path):
    from mien.video.reader import VideoTooLarge, check_video, probe, read_video

    path = png_frames_video(tmp_path / "large.mov", [(400, 300)] * 3)
    for max_pixels, declared in ((100_000, "400x300 = 0.12 megapixels, above"), (50_000, "above")):
        frames = list(read_video(path, max_pixels=max_pixels))
        assert len(frames) == 1 and frames[0].image is None
        assert str(path) in frames[0].error and declared in frames[0].error
        assert f"the limit of {max_pixels / 1e6:g} megapixels" in frames[0].error
        with pytest.raises(VideoTooLarge, match="above the limit"):
            check_video(path, max_pixels)
        with pytest.raises(VideoTooLarge):
            probe(path, max_pixels)
    assert [f.image.shape for f in read_video(path, max_pixels=120_000)] == [(300, 400, 3)] * 3


def test_frames_larger_than_the_header_says_are_skipped_and_reported(tmp_path):
    from mien.video.reader import read_video

    sizes = [(100, 80), (100, 80), (400, 300), (100, 80), (800, 600), (100, 80)]  # 400x300: decoded, refused
    path = png_frames_video(tmp_path / "growing.mov", sizes)  # by mien; 800x600: refused by FFmpeg itself
    frames = list(read_video(path, max_pixels=100_000))
    decoded = [f.image.shape for f in frames[:-1]]  # (a frame beside a refused one may be lost with it)
    assert len(decoded) >= 3 and set(decoded) == {(80, 100, 3)}
    assert frames[-1].image is None and "2 frame(s) above the limit of 0.1 megapixels" in frames[-1].error


def test_video_frames_above_the_limit_are_never_allocated(tmp_path):
    path = png_frames_video(tmp_path / "bomb.mov", [(4000, 4000)] * 4)  # 48 MB per decoded frame
    growth = peak_growth_bytes("video", path)
    assert growth < 16_000_000, f"peak RSS grew by {growth / 1e6:.0f} MB"
