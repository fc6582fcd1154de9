"""Overlay files for ``mien analyze --overlay``: names that never replace an input, atomic JPEG writes, and
:class:`OverlayWriter`, which draws each analysed frame with :func:`mien.viz.draw.draw_faces` and saves it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mien.io.images import Frame
from mien.io.writers import write_atomic
from mien.result import Result
from mien.viz.draw import draw_faces


def save_image(path, image: np.ndarray, quality: int = 92) -> None:
    """Write an RGB image atomically (a new exclusive temporary file, then renamed onto ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix or ".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: cannot encode image")
    write_atomic(path, encoded.tobytes())


OVERLAY_INFIX = ".overlay"


def overlay_names(sources: Sequence[str]) -> dict[str, str]:
    """Overlay file name per input: its path relative to the inputs' common folder, with ``.overlay``
    before a JPEG suffix, so that an overlay never has an input's name.

    ``photo.jpg`` becomes ``photo.overlay.jpg``; other suffixes are kept inside the name
    (``a.png`` -> ``a.png.overlay.jpg``) so that ``a.png`` and ``a.jpg`` never overwrite each other's
    overlay. In-memory inputs (``<array:3>``) become ``array_3.overlay.jpg``.
    """
    paths = [s for s in sources if not s.startswith("<")]
    real = {s: os.path.abspath(s) for s in paths}
    try:
        common = os.path.commonpath([os.path.dirname(r) for r in real.values()]) if real else ""
    except ValueError:  # paths on different drives
        common = ""
    names = {}
    for source in sources:
        if source.startswith("<"):
            name = re.sub(r"[^A-Za-z0-9]+", "_", source).strip("_") or "image"
        else:
            name = os.path.relpath(real[source], common) if common else Path(real[source]).name
        stem, suffix = os.path.splitext(name)
        jpeg = suffix.lower() in (".jpg", ".jpeg")
        names[source] = f"{stem}{OVERLAY_INFIX}{suffix}" if jpeg else f"{name}{OVERLAY_INFIX}.jpg"
    return names


def page_name(name: str, index: int) -> str:
    """The overlay name of page ``index`` of a multi-page input: ``scan.tif.overlay.jpg`` ->
    ``scan_p1.tif.overlay.jpg``."""
    path = Path(name)
    base, _, rest = path.name.partition(".")
    return str(path.with_name(f"{base}_p{index}.{rest}"))


class OverlayWriter:
    """Writes each analysed frame, drawn with its faces, under ``folder`` (names from :func:`overlay_names`).

    Refuses (ValueError) a folder where an overlay would replace one of the inputs."""

    def __init__(self, folder: str | Path, sources: Sequence[str], anonymize: str | None = None) -> None:
        self.folder = Path(folder)
        self.names = overlay_names(list(dict.fromkeys(sources)))
        self._check_inputs_kept()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.anonymize = anonymize

    def _check_inputs_kept(self) -> None:
        inputs = {os.path.realpath(s) for s in self.names if not s.startswith("<")}
        for name in self.names.values():
            if os.path.realpath(self.folder / name) in inputs:
                raise ValueError(f"overlay {self.folder / name} would replace an input: choose another folder")

    def write(self, result: Result, frames: Sequence[Frame]) -> None:
        """Draw and save the frames of one input; ``result`` rows correspond to ``frames``."""
        for row, frame in enumerate(frames):
            if frame.image is None:
                continue
            name = self.names.get(frame.source) or overlay_names([frame.source])[frame.source]
            if len(frames) > 1:
                name = page_name(name, frame.index)
            save_image(self.folder / name, draw_faces(frame.image, result, row, self.anonymize))
