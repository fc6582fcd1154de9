"""Reliability probes for video decoding: declared and real frame sizes against max_pixels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHILD_PEAK = """
import json, resource, sys
import av
from mien.io.images import read_image
mode, path = sys.argv[1], sys.argv[2]
if mode == "analyze":
    from mien import Analyzer
    analyzer = Analyzer(threads=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "analyze":
    rows = len(analyzer.analyze(path))
elif mode == "video":
    from mien.video.reader import read_video
    rows = len(list(read_video(path, max_pixels=1_000_000)))
else:
    rows = read_image(path).shape[0]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "rows": rows}))
"""


def peak_growth_bytes(mode: str, path: Path) -> int:
    """How much the child's peak RSS grew while it decoded (or analysed) ``path``."""
    reply = subprocess.run([sys.executable, "-c", CHILD_PEAK, mode, str(path)], capture_output=True, text=True,
                           timeout=120)
    assert reply.returncode == 0, reply.stderr
    measured = json.loads(reply.stdout.strip().splitlines()[-1])
    return (measured["after_kb"] - measured["before_kb"]) * 1024


# --------------------------------------------------------------------------- videos and the pixel limit
def png_frames_video(path: Path, sizes: list[tuple[int, int]], declared: tuple[int, int] | None = None) -> Path:
    """A MOV whose frames are PNG images of ``sizes`` (width, height): each frame may have its own size, and
    the header declares ``declared`` (default: the first frame's size)."""
    import io
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=10)
        stream.width, stream.height = declared or sizes[0]
        stream.pix_fmt = "rgb24"
        stream.time_base = Fraction(1, 10)
        for index, (width, height) in enumerate(sizes):
            encoded = io.BytesIO()
            Image.fromarray(np.full((height, width, 3), 40 * index % 256, np.uint8)).save(encoded, "PNG", compress_level=1)
            packet = av.Packet(encoded.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 10)
            packet.is_keyframe = True
            container.mux(packet)
    return path


def test_a_video_declared_above_the_limit_is_refused_before_decoding(tmp_path):
    from mien.video.reader import VideoTooLarge, check_video, probe, read_video

    path = png_frames_video(tmp_path / "large.mov", [(400, 300)] * 3)
    for max_pixels, declared in ((100_000, "400x300 = 0 megapixels, above"), (50_000, "above")):
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
