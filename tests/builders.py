"""Test inputs built in code and shared by several test modules (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from mien.detect.base import Detections
from mien.result import FrameTable, Result

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


def two_frame_result() -> Result:
    """Frame 0 has two faces, frame 1 none, frame 2 failed."""
    table = FrameTable()
    table.append("a.jpg", 0, 0.0, 640, 480, "")
    table.append("b.jpg", 0, 0.0, 100, 80, "")
    table.append("c.jpg", 0, 0.0, 0, 0, "c.jpg: empty file (0 bytes)")
    probs = np.zeros((2, 8), np.float32)
    probs[0, 1] = 1.0  # happy
    probs[1, 3] = 1.0  # surprise
    landmarks = np.array([[[10, 10], [30, 10], [20, 20], [12, 30], [28, 30]]] * 2, np.float32)
    return Result(frames=table, frame_index=np.array([0, 0]), face_id=np.array([0, 1]),
                  boxes=np.array([[0, 0, 40, 50], [100, 100, 110, 112]], np.float32),
                  face_scores=np.array([0.99, 0.95], np.float32), landmarks=landmarks,
                  blur=np.array([500.0, 5.0], np.float32), outside=np.array([0.0, 0.5], np.float32),
                  expression_probs=probs)


class CentreDetector:
    """A tiny detector (the ``FaceDetector`` protocol): one face, the middle half of any image, its 5 landmarks
    at fixed fractions of that box (eyes, nose tip, mouth corners); counts its calls."""

    POINTS = ((0.35, 0.4), (0.65, 0.4), (0.5, 0.6), (0.38, 0.78), (0.62, 0.78))

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray, *, max_size: int | None = None, min_size: int | None = None) -> Detections:
        self.calls += 1
        height, width = image.shape[:2]
        x1, y1, w, h = width / 4, height / 4, width / 2, height / 2
        landmarks = [[x1 + fx * w, y1 + fy * h] for fx, fy in self.POINTS]
        return Detections(np.float32([[x1, y1, x1 + w, y1 + h]]), np.float32([0.9]), np.float32([landmarks]))


class BoxOnlyDetector:
    """A detector that measures no landmarks (the ``FaceDetector`` protocol allows NaN ones): one face, the
    middle half of any image, with NaN landmarks; or ``faces`` given as ``(box, landmarks or None)`` pairs."""

    def __init__(self, faces: list[tuple[list[float], list[list[float]] | None]] | None = None) -> None:
        self.faces = faces

    def detect(self, image: np.ndarray, *, max_size: int | None = None, min_size: int | None = None) -> Detections:
        height, width = image.shape[:2]
        faces = self.faces or [([width / 4, height / 4, 3 * width / 4, 3 * height / 4], None)]
        boxes = np.float32([box for box, _ in faces])
        landmarks = np.float32([points if points is not None else np.full((5, 2), np.nan) for _, points in faces])
        return Detections(boxes, np.full(len(faces), 0.9, np.float32), landmarks)


class FakeEntryPoint:
    """Stands in for an ``importlib.metadata.EntryPoint`` of an installed package: ``load()`` returns
    ``loaded``, or raises it when it is an exception."""

    def __init__(self, name: str, value: str, loaded: object, dist: tuple[str, str] | None = ("mien-fake", "1.0"),
                 group: str = "mien.models") -> None:
        self.name, self.value, self.group, self._loaded = name, value, group, loaded
        self.dist = SimpleNamespace(name=dist[0], version=dist[1]) if dist else None

    def load(self) -> object:
        if isinstance(self._loaded, BaseException):
            raise self._loaded
        return self._loaded


def install_fake_plugins(monkeypatch, *points: FakeEntryPoint) -> list[str]:
    """Make ``points`` the installed entry points and start the registry afresh, as a new process would;
    returns the list that records each read of the entry points (the group read)."""
    from importlib import metadata

    from mien import registry

    reads: list[str] = []

    def entry_points(*, group: str | None = None, **_: object) -> list[FakeEntryPoint]:
        reads.append(group)
        return [point for point in points if point.group == group]

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_STATE", registry._State())
    return reads
