"""The frame-source contract: what image files, video files and live streams all yield.

A *frame source* is any iterable of :class:`Frame` (:class:`FrameSource`); mien's are
:func:`mien.io.images.iter_frames` (images, TIFF pages), :func:`mien.video.reader.read_video` (video files,
with seeking) and :func:`mien.video.sources.live_frames` (cameras, network streams). Every source keeps
these rules, so the analyzer and the video pipeline treat them alike:

1. ``source`` names the input (a path, a URL, ``<array>``), the same on every frame of that input.
2. ``index`` is the frame's position within the input and grows along it: the TIFF page, the video frame
   counting every decoded frame (sampled or not, so a seek gives what a full pass gives), the camera's
   frame counter (frames the analysis could not keep up with are skipped, never queued).
3. ``timestamp`` is seconds from the start of the input: 0.0 for still images, the stream's own
   timestamps for video (correct for variable frame rates), time since opening for live sources.
4. ``image`` is ``(H, W, 3)`` uint8 RGB, or None when the frame failed; ``error`` then says why, naming
   the input, and is ``""`` otherwise.
5. A source never raises for a bad input: one that cannot be opened yields a single error frame (index 0);
   one that breaks off (a truncated file, a corrupt page) yields its good frames, then one error frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol, runtime_checkable

import numpy as np


@dataclass
class Frame:
    """One decoded image (or TIFF page / video frame) ready for the pipeline."""

    source: str  # what the user gave: a path, or "<array>" for in-memory inputs
    index: int  # frame / page index within the source, 0 for still images
    image: np.ndarray | None  # (H, W, 3) uint8 RGB, None when decoding failed
    timestamp: float = 0.0  # seconds from the start of the source
    error: str = ""  # why decoding failed, "" on success


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields :class:`Frame` objects keeping the module's rules (a generator will do)."""

    def __iter__(self) -> Iterator[Frame]: ...


def contract_problems(frames: Iterable[Frame]) -> list[str]:
    """How ``frames`` (from one input) break rules 1-4 of the contract; empty when they keep them.

    For testing a new source; consumes the frames.
    """
    problems: list[str] = []
    names, last_index = set(), None
    for frame in frames:
        names.add(frame.source)
        where = f"frame {frame.index}"
        if last_index is not None and frame.index <= last_index:
            problems.append(f"{where}: index not after the previous {last_index}")
        last_index = frame.index
        if not frame.timestamp >= 0.0:
            problems.append(f"{where}: timestamp {frame.timestamp} before the start")
        if frame.image is None:
            if not frame.error:
                problems.append(f"{where}: no image and no error")
            continue
        if frame.error:
            problems.append(f"{where}: an image and an error")
        image = frame.image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            problems.append(f"{where}: image {image.dtype} {image.shape}, not (H, W, 3) uint8")
    if len(names) > 1:
        problems.append(f"frames name several inputs: {sorted(names)}")
    return problems
