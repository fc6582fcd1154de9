"""``mien live``: analyse a camera, stream or file as it plays.

With a display, an overlay window shows labels and fps (``q`` or Esc closes it); without one, rows (and
optionally an annotated video) are written headless. Ctrl-C ends cleanly: every row computed so far is
written. The frames come from :func:`mien.video.sources.live_frames`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Iterator

import cv2

from mien.io.images import Frame


def has_display() -> bool:
    """Whether a window can be shown (an X/Wayland display on Linux; always on Windows and macOS)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@dataclass
class LiveReport:
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    errors: list[str] | None = None


def run_live(analyzer, frames: Iterator[Frame], options, table=None, overlay=None, display: bool = False,
             anonymize: str | None = None) -> LiveReport:
    """Analyse ``frames`` as they come; write rows to ``table`` and drawn frames to ``overlay`` /
    the window. Returns when the source ends, the window is closed, or on Ctrl-C (rows kept)."""
    from mien.video.pipeline import VideoAnalysis
    from mien.viz.draw import draw_faces

    report = LiveReport(errors=[])
    analysis = VideoAnalysis(analyzer, options)
    started = time.perf_counter()
    recent: list[float] = []
    try:
        for result, frame in analysis.process(frames):
            if table is not None:
                table.write(result.to_records())
            report.frames += 1
            report.faces += len(result)
            report.errors.extend(result.errors)
            now = time.perf_counter()
            recent = [t for t in recent if now - t < 2.0] + [now]
            if frame.image is None or (overlay is None and not display):
                continue
            drawn = draw_faces(frame.image, result, 0, anonymize)
            fps = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6) if len(recent) > 1 else 0.0
            cv2.putText(drawn, f"{fps:.1f} fps", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
            if overlay is not None:
                overlay.write(drawn, frame.timestamp)
            if display:
                cv2.imshow("mien live (q to quit)", drawn[..., ::-1])
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if display:
            cv2.destroyAllWindows()
        report.seconds = time.perf_counter() - started
    return report
