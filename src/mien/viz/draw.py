"""Overlays: boxes, landmarks and expression labels drawn on a copy of the image."""

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
from mien.schema import EXPRESSIONS

# One colour per expression (RGB), chosen to be distinguishable and colour-blind safe (Okabe-Ito).
EXPRESSION_COLOURS: dict[str, tuple[int, int, int]] = {
    "neutral": (187, 187, 187), "happy": (240, 228, 66), "sad": (0, 114, 178), "surprise": (86, 180, 233),
    "fear": (204, 121, 167), "disgust": (0, 158, 115), "anger": (213, 94, 0), "contempt": (230, 159, 0),
}
LANDMARK_COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (0, 255, 255)]


def draw_faces(image: np.ndarray, result: Result, frame: int = 0, anonymize: str | None = None) -> np.ndarray:
    """Return a copy of RGB ``image`` with the faces of ``result``'s frame row ``frame`` drawn on it.

    ``anonymize`` ("blur", "pixelate" or "box") obscures each face box before drawing, and in video also
    the predicted boxes of tracked faces the detector missed in this frame (``metadata["missed_boxes"]``).
    """
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(height, width) / 800.0
    thickness = max(1, round(2 * scale))
    faces = np.flatnonzero(result.frame_index == frame)
    labels = result.expressions
    if anonymize:  # faces a video tracker expects but the detector missed in this frame
        for box in result.metadata.get("missed_boxes", ()):
            obscure(canvas, tuple(int(round(v)) for v in box), anonymize)
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in result.boxes[face])
        if anonymize:
            obscure(canvas, (x1, y1, x2, y2), anonymize)
        label = labels[face]
        colour = EXPRESSION_COLOURS[label]
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        if not anonymize:
            for (x, y), dot in zip(result.landmarks[face], LANDMARK_COLOURS):
                cv2.circle(canvas, (int(round(x)), int(round(y))), max(1, thickness + 1), dot, -1, cv2.LINE_AA)
        probability = result.expression_probs[face, EXPRESSIONS.index(label)]
        text = f"{label} {probability:.0%}"
        font_scale = max(0.4, 0.6 * scale)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else min(height - th - base, y2 + 2)
        cv2.rectangle(canvas, (x1, top), (min(width, x1 + tw + 6), top + th + base + 4), colour, -1)
        cv2.putText(canvas, text, (x1 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return canvas


def obscure(canvas: np.ndarray, box: tuple[int, int, int, int], mode: str) -> None:
    """Blur, pixelate or black out ``box`` in place (a margin is added so the hairline goes too)."""
    x1, y1, x2, y2 = box
    margin_x, margin_y = (x2 - x1) // 8, (y2 - y1) // 8
    x1, y1 = max(0, x1 - margin_x), max(0, y1 - margin_y)
    x2, y2 = min(canvas.shape[1], x2 + margin_x), min(canvas.shape[0], y2 + margin_y)
    if x2 <= x1 or y2 <= y1:
        return
    region = canvas[y1:y2, x1:x2]
    if mode == "box":
        region[:] = 0
    elif mode == "pixelate":
        small = cv2.resize(region, (8, 8), interpolation=cv2.INTER_AREA)
        region[:] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    elif mode == "blur":
        # Downscale first so the blur removes identity, not just edges: 12 px across cannot be undone.
        small = cv2.resize(region, (12, 12), interpolation=cv2.INTER_AREA)
        smooth = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
        kernel = max(3, ((x2 - x1) // 4) | 1)
        region[:] = cv2.GaussianBlur(smooth, (kernel, kernel), 0)
    else:
        raise ValueError(f"anonymize must be 'blur', 'pixelate' or 'box', got {mode!r}")


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
