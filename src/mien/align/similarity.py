"""Face alignment: a similarity transform from 5 detected landmarks onto a canonical template.

Pure functions that return the 2x3 affine matrix with every crop, so any point measured on the crop can be
mapped back to the original image with :func:`invert_affine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Canonical 5-point template in unit coordinates of a square crop (x, y in [0, 1]): left eye, right eye,
# nose tip, left and right mouth corners (image left/right). This is the widely used ArcFace template
# (112x112 pixels) divided by 112: a tight crop from eyebrows to chin.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
) / 112.0


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    Umeyama's closed form (1991). ``src`` and ``dst`` are ``(K, 2)`` point sets with K >= 2.
    Returns a 2x3 float64 matrix ``M`` with ``dst ≈ M[:, :2] @ src + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection would fit better; forbid it
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    src_variance = (src_c**2).sum() / len(src)
    scale = (singular * sign).sum() / src_variance if src_variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``(..., 2)`` points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class CropSpec:
    """How a model wants its face crop: square ``size`` pixels with the template at ``template * size``."""

    size: int
    template: np.ndarray = field(default_factory=lambda: ARCFACE_TEMPLATE.copy())

    def template_pixels(self) -> np.ndarray:
        return self.template * self.size


def alignment_matrix(landmarks: np.ndarray, crop: CropSpec) -> np.ndarray:
    """2x3 matrix taking original-image pixels to crop pixels for one face's ``(5, 2)`` landmarks."""
    return estimate_similarity(landmarks, crop.template_pixels())


def warp_face(image: np.ndarray, landmarks: np.ndarray, crop: CropSpec) -> tuple[np.ndarray, np.ndarray]:
    """Aligned square crop of one face and the 2x3 matrix (image pixels -> crop pixels) that made it.

    Pixels outside the image are filled by replicating the border, so a face cut by the frame still gives
    a usable crop; :func:`outside_fraction` says how much of it was invented.
    """
    matrix = alignment_matrix(landmarks, crop)
    return warp_with_matrix(image, matrix, crop.size), matrix


def warp_with_matrix(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine`` to a ``size x size`` crop, antialiased when the face is shrunk more than 2x.

    Bilinear warping samples only 2x2 source pixels per output pixel, so a large face shrunk to a small
    crop would alias (and look sharper than it is). The needed region is first reduced with area
    averaging, leaving a residual scale of 0.5 for the warp.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        corners = apply_affine(invert_affine(matrix), np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
        height, width = image.shape[:2]
        x0, y0 = np.floor(np.maximum(corners.min(axis=0) - 2, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(corners.max(axis=0) + 2, [width, height])).astype(int)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            factor = 2 * scale
            small = cv2.resize(image[y0:y1, x0:x1], (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))),
                               interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)
            # pixel centres: region pixel q came from image pixel p = (q + 0.5) / f - 0.5 + offset
            offset = np.array([x0 + 0.5 / fx - 0.5, y0 + 0.5 / fy - 0.5])
            linear = matrix[:, :2] @ np.diag([1 / fx, 1 / fy])
            reduced = np.hstack([linear, (matrix[:, :2] @ offset + matrix[:, 2])[:, None]])
            return cv2.warpAffine(small, reduced, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_whole_image(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole image as the face crop (``--whole-image``): resized to ``size x size``, and its matrix."""
    height, width = image.shape[:2]
    shrinking = size < min(height, width)
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    matrix = np.array([[size / width, 0.0, 0.5 * size / width - 0.5], [0.0, size / height, 0.5 * size / height - 0.5]])
    return resized, matrix


def outside_fraction(matrix: np.ndarray, crop_size: int, height: int, width: int, grid: int = 16) -> float:
    """Share of the crop (0..1) whose source pixels lie outside a ``height x width`` image."""
    coords = (np.arange(grid) + 0.5) * crop_size / grid
    xs, ys = np.meshgrid(coords, coords)
    source = apply_affine(invert_affine(matrix), np.stack([xs.ravel(), ys.ravel()], axis=1))
    inside = (source[:, 0] >= 0) & (source[:, 0] < width) & (source[:, 1] >= 0) & (source[:, 1] < height)
    return float(1.0 - inside.mean())
