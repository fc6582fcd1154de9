"""Overlays: boxes, landmarks and expression labels drawn on a copy of the image (returned, never saved:
:mod:`mien.workflows.overlays` names and writes overlay files)."""

from __future__ import annotations

import cv2
import numpy as np

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
    the predicted boxes of tracked faces the detector missed in this frame
    (``result.frames.data["missed_boxes"][frame]``).
    """
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(height, width) / 800.0
    thickness = max(1, round(2 * scale))
    faces = np.flatnonzero(result.frame_index == frame)
    labels = result.expressions
    missed = result.frames.data.get("missed_boxes")  # video: tracked faces the detector missed, per frame
    if anonymize and missed is not None:
        for box in missed[frame]:
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
