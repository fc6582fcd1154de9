"""Writing annotated video (H.264 in MP4), frame by frame, atomically: into a new temporary file beside
the target (``<name>.<random>.part``, created exclusively, never through a link), renamed onto it at the end."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from mien.io.writers import exclusive_temp


TIME_BASE = Fraction(1, 1000)  # frame timestamps are kept to the millisecond


class VideoWriter:
    """Encode RGB frames into an MP4 file. Each frame is shown at its own timestamp when one is given
    (variable frame rate, dropped frames, sampling), else at ``fps``. Frames of another size are padded
    to the first frame's size; odd sizes are padded to even (H.264 4:2:0 needs even dimensions)."""

    def __init__(self, path: str | Path, fps: float | Fraction, crf: int = 23) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part: Path | None = None  # the temporary file, once the first frame is written
        self._handle = None
        self.fps = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
        self.crf = crf
        self.frames = 0
        self._last_pts = -1
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None

    def _open(self, height: int, width: int) -> None:
        import av

        self._size = (height + height % 2, width + width % 2)
        descriptor, self.part = exclusive_temp(self.path)
        self._handle = open(descriptor, "wb")
        try:
            self._container = av.open(self._handle, mode="w", format="mp4")
        except BaseException:
            self._handle.close()
            self.part.unlink(missing_ok=True)
            raise
        self._stream = self._container.add_stream("libx264", rate=self.fps)
        self._stream.height, self._stream.width = self._size
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = TIME_BASE
        self._stream.codec_context.time_base = TIME_BASE
        self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}

    def write(self, image: np.ndarray, timestamp: float | None = None) -> None:
        """Add one RGB frame, shown at ``timestamp`` seconds (default: one ``1/fps`` after the last)."""
        import av

        if self._container is None:
            self._open(*image.shape[:2])
        height, width = self._size
        if image.shape[:2] != (height, width):
            canvas = np.zeros((height, width, 3), np.uint8)
            h, w = min(height, image.shape[0]), min(width, image.shape[1])
            canvas[:h, :w] = image[:h, :w]
            image = canvas
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if timestamp is None:
            pts = round(self.frames / self.fps / TIME_BASE)
        else:
            pts = round(timestamp / TIME_BASE)
        frame.pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the input says
        frame.time_base = TIME_BASE
        self._last_pts = frame.pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self, commit: bool = True) -> None:
        """Flush and finish the file; with ``commit`` rename it into place, else delete it."""
        if self._container is None:
            return
        container, self._container = self._container, None
        committed = False
        try:
            try:
                if commit:
                    for packet in self._stream.encode():
                        container.mux(packet)
            finally:
                container.close()
                self._handle.close()
            if commit:
                os.replace(self.part, self.path)
                committed = True
        finally:
            if not committed:  # not wanted, or a failure while finishing: the temporary file goes
                self.part.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(commit=kind is None or issubclass(kind, KeyboardInterrupt))
