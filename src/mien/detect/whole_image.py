"""The "detector" for images that are already face crops (CK+, JAFFE, FER2013): the whole image is the face.

It measures nothing: the box is the full image, the score 1 and the landmarks NaN (not measured), which
tells the aligner to use the whole image as the crop.
"""

from __future__ import annotations

import numpy as np

from mien.detect.base import Detections


class WholeImageDetector:
    def __init__(self, **_: object) -> None:  # accepts (and ignores) the runtime options of real detectors
        pass

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        return Detections(
            np.array([[0, 0, width, height]], np.float32),
            np.ones(1, np.float32),
            np.full((1, 5, 2), np.nan, np.float32),
        )
