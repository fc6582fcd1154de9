"""The "detector" for images that are already face crops (CK+, JAFFE, FER2013, RAF-DB): the whole image is
the face, and it is still aligned.

Datasets and users' own crops come tightly cropped, often too tightly for a face detector to fire on
them as they are. :func:`landmarks_in_crop` therefore scales the crop to about :data:`DETECT_SIZE` pixels and
pads it with grey, so a face that fills the crop looks like a face in a photo, and runs RetinaFace on that
to measure the 5 landmarks; the pipeline then warps the face onto the model's template exactly as for a
detected face. Only when no face is found are the landmarks NaN, and the aligner resizes the whole crop
(column ``alignment`` says which happened). The box is always the full image and the score 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from mien.detect.base import Detections

DETECT_SIZE = 320  # long side of the crop, pixels, when looking for its landmarks
PAD_FRACTION = 0.25  # grey border on each side, as a share of DETECT_SIZE


def landmarks_in_crop(detector, image: np.ndarray) -> tuple[np.ndarray, float]:
    """5 landmarks (pixels of ``image``) of the most confident face in an already-cropped face image, and
    its detector score; NaNs and 0 when none is found."""
    height, width = image.shape[:2]
    scale = DETECT_SIZE / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    pad = round(PAD_FRACTION * DETECT_SIZE)
    padded = cv2.copyMakeBorder(resized, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    found = detector.detect(padded)
    if len(found) == 0:
        return np.full((5, 2), np.nan, np.float32), 0.0
    best = int(np.argmax(found.scores))
    return ((found.landmarks[best] - pad) / scale).astype(np.float32), float(found.scores[best])


class WholeImageDetector:
    """Each image is one face: box = the image, score 1, landmarks measured inside it when a face is found.

    Args:
        align: look for the face's landmarks inside the crop (default); False gives NaN landmarks, i.e. the
            crop resized whole (mien 0.1's behaviour).
        threads, device: runtime options of the landmark detector.
    """

    supports_regions = False  # the answer is the whole input: a region of a frame is not a face crop

    def __init__(self, align: bool = True, threads: int | None = None, device: str = "cpu", **_: object) -> None:
        self.locator = None
        if align:
            from mien.detect.retinaface import RetinaFaceDetector

            # a low threshold: the image is known to hold a face; min_size keeps the padded crop unscaled
            self.locator = RetinaFaceDetector(score_threshold=0.5, min_size=DETECT_SIZE, threads=threads, device=device)

    def detect(self, image: np.ndarray, *, max_size: int | None = None, min_size: int | None = None) -> Detections:
        """The whole image as one face (``max_size`` / ``min_size`` are ignored: there is nothing to resize for)."""
        height, width = image.shape[:2]
        if self.locator is not None:
            landmarks = landmarks_in_crop(self.locator, image)[0]
        else:
            landmarks = np.full((5, 2), np.nan, np.float32)
        return Detections(np.array([[0, 0, width, height]], np.float32), np.ones(1, np.float32), landmarks[None])
