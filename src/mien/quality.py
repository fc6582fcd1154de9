"""Face quality: is a face large, sharp and whole enough for its expression to be read?

Faces are never dropped for poor quality; each row carries the measurements and a ``quality`` label so
users filter with thresholds they choose. The defaults below were set by measurement (README, "Face
quality"): blur on real photos blurred with known Gaussian kernels, size from the FER+ training faces.
"""

from __future__ import annotations

import cv2
import numpy as np

REFERENCE_SIZE = 64  # blur is measured on the aligned face resized to this many pixels
SMALL_FACE_PX = 10.0  # inter-ocular distance (pixels) below which a face is "small"
BLURRY_BELOW = 50.0  # Laplacian variance at 64 px; ~ a Gaussian blur of sigma 1.3 px at that size
CUT_ABOVE = 0.15  # share of the aligned face crop lying outside the image

THRESHOLDS = {"small_face_px": SMALL_FACE_PX, "blurry_below": BLURRY_BELOW, "cut_above": CUT_ABOVE}


def sharpness(face_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned RGB face resized to 64 px: low values mean blur."""
    gray = cv2.cvtColor(face_rgb, cv2.COLOR_RGB2GRAY)
    if gray.shape[0] != REFERENCE_SIZE:
        gray = cv2.resize(gray, (REFERENCE_SIZE, REFERENCE_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def quality_labels(face_size: np.ndarray, blur: np.ndarray, outside: np.ndarray) -> list[str]:
    """``"ok"`` or the ``;``-joined reasons (``small``, ``blurry``, ``cut``) for each face.

    A face without landmarks (``--whole-image``) has a NaN size and is not judged on it.
    """
    labels = []
    for size, sharp, out in zip(face_size, blur, outside):
        reasons = [name for name, bad in (("small", size < SMALL_FACE_PX), ("blurry", sharp < BLURRY_BELOW),
                                          ("cut", out > CUT_ABOVE)) if bad]
        labels.append(";".join(reasons) or "ok")
    return labels
