"""Box geometry shared by detectors and trackers: anchors, SSD-style decoding, IoU and NMS.

All boxes are ``(x1, y1, x2, y2)`` in pixels, float32, with ``x2 > x1`` and ``y2 > y1``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def prior_boxes(
    height: int,
    width: int,
    steps: tuple[int, ...] = (8, 16, 32),
    min_sizes: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512)),
) -> np.ndarray:
    """Anchor boxes of a RetinaFace-style detector for an input of ``height x width`` pixels.

    Returns an array ``(P, 4)`` of ``(cx, cy, w, h)`` in pixels, ordered level by level, then row-major
    over the feature map, then by anchor size: the order the network emits its predictions in.
    """
    per_level = []
    for step, sizes in zip(steps, min_sizes):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * step, (ys.ravel() + 0.5) * step], axis=1)
        centres = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (rows * cols, 1))
        per_level.append(np.hstack([centres, wh]))
    priors = np.concatenate(per_level, axis=0).astype(np.float32)
    priors.setflags(write=False)
    return priors


def decode_boxes(deltas: np.ndarray, priors: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    """SSD box decoding: regression ``(P, 4)`` relative to ``priors`` (cx, cy, w, h) -> ``(P, 4)`` x1y1x2y2."""
    centre = priors[:, :2] + deltas[:, :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(deltas[:, 2:] * variances[1])
    return np.hstack([centre - size / 2, centre + size / 2])


def decode_points(deltas: np.ndarray, priors: np.ndarray, variance: float = 0.1) -> np.ndarray:
    """Landmark decoding: ``(P, 2K)`` offsets relative to ``priors`` -> ``(P, K, 2)`` points in pixels."""
    offsets = deltas.reshape(len(deltas), -1, 2)
    return priors[:, None, :2] + offsets * variance * priors[:, None, 2:]


def box_area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return (inter / np.maximum(union, 1e-9)).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns indices of kept boxes, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        if order.size == 1:
            break
        overlaps = iou_matrix(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
