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


def draw_faces(image: np.ndarray, result: Result, frame: int = 0, anonymize: str | None = None,
               geometry: bool = True) -> np.ndarray:
    """Return a copy of RGB ``image`` with the faces of ``result``'s frame row ``frame`` drawn on it.

    ``geometry``: also draw what the face mesh measured, where ``result`` has it (``landmarks="mesh"``):
    the 68 landmarks, the head-pose axes and the gaze rays (:func:`draw_geometry`). Never with ``anonymize``.

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
            if geometry:
                draw_geometry(canvas, result, face, thickness)
        probability = result.expression_probs[face, EXPRESSIONS.index(label)]
        text = f"{label} {probability:.0%}"
        font_scale = max(0.4, 0.6 * scale)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else min(height - th - base, y2 + 2)
        cv2.rectangle(canvas, (x1, top), (min(width, x1 + tw + 6), top + th + base + 4), colour, -1)
        cv2.putText(canvas, text, (x1 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return canvas


POSE_AXIS_COLOURS = ((230, 60, 60), (60, 200, 60), (60, 120, 255))  # the head's x (red), y (green), nose (blue)
GAZE_COLOUR = (0, 255, 255)


def draw_geometry(canvas: np.ndarray, result: Result, face: int, thickness: int = 1) -> None:
    """Draw face ``face``'s measured geometry on ``canvas`` in place, each part only where it was measured:
    the 68 landmarks (``x_0..y_67``), the head-pose axes from the nose tip (``pose_pitch/yaw/roll``; red = the
    head's x axis, green = its y axis (down), blue = the direction the nose points; each 40% of the box width,
    drawn in orthographic projection) and each eye's gaze ray (``gaze_0_*``/``gaze_1_*``, from the eye's centre).
    """
    from mien.tasks.pose import rotation_from_angles

    width = float(result.boxes[face, 2] - result.boxes[face, 0])
    points = _landmarks68(result, face)
    radius = max(1, thickness)
    if points is not None:
        for x, y in points:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (255, 255, 255), -1, cv2.LINE_AA)
    pose = result.head_pose[face]
    nose = points[30] if points is not None else result.landmarks[face, 2]
    if np.isfinite(pose).all() and np.isfinite(nose).all() and "x_0" in result.data:
        rotation = rotation_from_angles(*pose)
        for axis, colour in zip((rotation[:, 0], rotation[:, 1], -rotation[:, 2]), POSE_AXIS_COLOURS):
            _arrow(canvas, nose, nose + 0.4 * width * axis[:2], colour, thickness)
    if points is not None:
        for eye, rows in enumerate((slice(36, 42), slice(42, 48))):
            direction = np.array([_value(result, f"gaze_{eye}_{axis}", face) for axis in "xy"])
            if np.isfinite(direction).all():
                centre = points[rows].mean(axis=0)
                _arrow(canvas, centre, centre + 0.5 * width * direction, GAZE_COLOUR, thickness)


def _value(result: Result, column: str, face: int) -> float:
    values = result.data.get(column)
    return float(values[face]) if values is not None and values[face] is not None else float("nan")


def _landmarks68(result: Result, face: int) -> np.ndarray | None:
    """(68, 2) landmark pixels of ``face`` when measured (``x_0..y_67``), else None."""
    if "x_0" not in result.data:
        return None
    points = np.array([[_value(result, f"x_{i}", face), _value(result, f"y_{i}", face)] for i in range(68)])
    return points if np.isfinite(points).all() else None


def _arrow(canvas: np.ndarray, start: np.ndarray, end: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    cv2.arrowedLine(canvas, tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end), colour,
                    thickness, cv2.LINE_AA, tipLength=0.2)


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
