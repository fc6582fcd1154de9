"""Live frame sources: cameras and network streams (and video files, for the same code path).

They keep the frame-source contract of :mod:`mien.io.frames`. A camera or network stream is read by a
background thread that keeps only the newest frame, so analysis never falls behind the camera (frames it
cannot keep up with are skipped, not queued); ``Frame.index`` is the camera's frame counter and
``Frame.timestamp`` the seconds since the source was opened.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mien.io.frames import Frame


class LatestFrameReader:
    """Reads a camera or stream in a thread, keeping only the newest frame.

    A failed read is retried (reopening the source for network streams) up to ``retries`` times in a row
    before the source counts as ended. The thread owns the capture and releases it itself, so closing
    never races a read that is blocked on a stalled stream.
    """

    def __init__(self, open_capture, first_capture=None, retries: int = 20, retry_wait: float = 0.25) -> None:
        self._open = open_capture
        self._first = first_capture
        self.retries = retries
        self.retry_wait = retry_wait
        self._frame: np.ndarray | None = None
        self._index = -1
        self._condition = threading.Condition()
        self._stopped = False
        self._ended = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        capture, self._first = (self._first or self._open()), None
        failures = 0
        try:
            while not self._stopped:
                ok, frame = capture.read() if capture is not None and capture.isOpened() else (False, None)
                if ok:
                    failures = 0
                    with self._condition:
                        self._frame, self._index = frame, self._index + 1
                        self._condition.notify_all()
                    continue
                failures += 1
                if failures > self.retries:
                    break
                time.sleep(self.retry_wait)
                if capture is not None:
                    capture.release()
                capture = self._open()  # reconnect (a camera re-opens, a stream reconnects)
        finally:
            if capture is not None:
                capture.release()
            with self._condition:
                self._ended = True
                self._condition.notify_all()

    def next(self, last_index: int, timeout: float = 10.0) -> tuple[int, np.ndarray | None]:
        """The newest frame after ``last_index`` (its index and BGR pixels); (-1, None) when the source ended."""
        with self._condition:
            self._condition.wait_for(lambda: self._index > last_index or self._ended, timeout=timeout)
            if self._index > last_index:
                return self._index, self._frame
            return -1, None

    def close(self) -> None:
        self._stopped = True
        self._thread.join(timeout=2)  # if a read is stuck, the daemon thread releases the capture later


def camera_frames(open_capture: Callable[[], Any], name: str, max_frames: int | None = None,
                  retries: int = 20, retry_wait: float = 0.25) -> Iterator[Frame]:
    """Frames from an OpenCV-style capture (``read() -> (ok, BGR image)``, ``isOpened()``, ``release()``)
    made by ``open_capture`` (called again to reconnect), newest first: see :class:`LatestFrameReader`.
    A capture that does not open yields one error frame."""
    capture = open_capture()
    if not capture.isOpened():
        capture.release()
        yield Frame(name, 0, None, 0.0, f"{name}: cannot open camera or stream")
        return
    reader = LatestFrameReader(open_capture, capture, retries, retry_wait)
    started = time.monotonic()
    last, count = -1, 0
    try:
        while max_frames is None or count < max_frames:
            last, image = reader.next(last)
            if image is None:
                break
            yield Frame(name, last, image[..., ::-1].copy(), time.monotonic() - started)
            count += 1
    finally:
        reader.close()


def live_frames(source: str, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames from a webcam index ("0"), a stream URL (rtsp://, http://) or a video file."""
    from mien.video.reader import VIDEO_EXTENSIONS, read_video

    if Path(source).is_file():
        for count, frame in enumerate(read_video(source)):
            if max_frames is not None and count >= max_frames:
                return
            yield frame
        return
    if "://" not in source and Path(source).suffix.lower() in VIDEO_EXTENSIONS:  # a video file's name, not there
        yield Frame(source, 0, None, 0.0, f"{source}: file not found")
        return

    def open_capture():
        import cv2

        return cv2.VideoCapture(int(source) if source.isdigit() else source)

    yield from camera_frames(open_capture, source, max_frames)
