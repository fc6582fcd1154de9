"""What every face detector returns, and the interface the pipeline relies on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class FaceDetector(Protocol):
    """What the pipeline calls on a face detector: any object with this ``detect`` method is one.

    ``Analyzer(detector=...)`` takes such an object or a registered name (:func:`mien.register`).

    ``detect(image, *, max_size=None, min_size=None)`` gets an RGB uint8 image ``(H, W, 3)`` and returns the
    faces in it as :class:`Detections` in pixels of that image (5 landmarks per face; NaN landmarks mean
    "none measured": the whole image is then resized to the face crop). ``max_size`` / ``min_size`` ask for
    the long side, in pixels, the image is resized to before detection (None: the detector's own choice); a
    detector without a resolution may ignore them. Video re-detects tracked faces in small image regions with
    ``max_size = min_size = 256``.

    Optional attribute ``supports_regions`` (default True): False makes video run full-frame detection on
    every analysed frame instead of re-detecting tracked faces in regions (a detector whose answer does not
    depend on the image's content, such as ``"whole-image"``).
    """

    def detect(self, image: np.ndarray, *, max_size: int | None = None,
               min_size: int | None = None) -> Detections: ...


def supports_regions(detector: FaceDetector) -> bool:
    """Whether video may re-detect tracked faces in regions with ``detector`` (see :class:`FaceDetector`)."""
    return bool(getattr(detector, "supports_regions", True))
