"""What every face detector returns, and the interface the pipeline relies on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Detections:
    """Faces found in one image, as parallel arrays (first dimension = number of faces).

    boxes: (N, 4) float32, ``x1, y1, x2, y2`` in pixels of the original image.
    scores: (N,) float32 detector confidence in [0, 1].
    landmarks: (N, 5, 2) float32 ``(x, y)`` pixels in the order left eye, right eye, nose tip,
        left mouth corner, right mouth corner, where "left" means the image's left (the subject's
        right).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> "Detections":
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])

    @classmethod
    def empty(cls) -> "Detections":
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
        )


class FaceDetector(Protocol):
    """A detector takes RGB uint8 images ``(H, W, 3)`` and returns one :class:`Detections` per image."""

    def detect(self, image: np.ndarray) -> Detections: ...
