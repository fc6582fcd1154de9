"""Optical flow between two aligned face crops, optical strain, and the normalised flow image.

Conventions: a flow field is (H, W, 2) float32 in pixels, ``flow[y, x] = (dx, dy)`` such that the point at
(x, y) in the first image moves to (x + dx, y + dy) in the second (x to the right, y downwards).

The flow image the recogniser reads is the MEGC2019/STSTNet representation: channels u, v and optical
strain, each min-max normalised to 0..255 over the sample, resized to 28x28.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

FlowMethod = Literal["farneback", "dis"]
FLOW_IMAGE_SIZE = 28


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from gray, RGB or RGBA input (RGB channel order, as mien reads images)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        image = image[..., :3]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def optical_flow(first: np.ndarray, second: np.ndarray, method: FlowMethod = "farneback") -> np.ndarray:
    """Dense flow from ``first`` to ``second`` (same-size uint8 images); (H, W, 2) float32 pixels."""
    a, b = to_gray(first), to_gray(second)
    if a.shape != b.shape:
        raise ValueError(f"optical_flow needs images of one size, got {a.shape} and {b.shape}")
    if method == "farneback":
        # pyramid scale 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5 / sigma 1.2 (smooth, small motion)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    raise ValueError(f"unknown flow method {method!r}; use 'farneback' or 'dis'")


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the infinitesimal strain tensor, sqrt(exx^2 + eyy^2 + 2 exy^2), per pixel (unitless)."""
    u, v = flow[..., 0], flow[..., 1]
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    e_xy = 0.5 * (u_y + v_x)
    return np.sqrt(u_x ** 2 + v_y ** 2 + 2 * e_xy ** 2).astype(np.float32)


def _minmax_255(channel: np.ndarray) -> np.ndarray:
    low, high = float(channel.min()), float(channel.max())
    if high - low < 1e-12:
        return np.zeros_like(channel, dtype=np.float32)
    return ((channel - low) * (255.0 / (high - low))).astype(np.float32)


def flow_image(flow: np.ndarray, size: int = FLOW_IMAGE_SIZE) -> np.ndarray:
    """(size, size, 3) uint8: u, v, strain, each min-max normalised to 0..255, area-resized."""
    channels = [flow[..., 0], flow[..., 1], optical_strain(flow)]
    stacked = np.dstack([_minmax_255(c) for c in channels])
    resized = cv2.resize(stacked, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def mirror_flow_image(image: np.ndarray) -> np.ndarray:
    """The flow image of the left-right mirrored frames: mirrored, and u negated, which on a min-max
    normalised channel is 255 - u. Works on (..., H, W, 3) uint8 or float arrays."""
    mirrored = image[..., ::-1, :].copy()
    mirrored[..., 0] = 255 - mirrored[..., 0]
    return mirrored
