"""Micro-expression motion (mien.micro.flow): optical flow and strain math, the flow image, on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from mien.micro.flow import flow_image, optical_flow, optical_strain

H = 112


def remap(image: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """The second frame of a known motion: the point at (x, y) moves to (x + fx, y + fy)."""
    import cv2

    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, xx - fx, yy - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def gaussian(cx: float, cy: float, sigma: float, size: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


@pytest.fixture(scope="module")
def media(datasets):
    return datasets / "media"


@pytest.fixture(scope="module")
def face_crop(media):
    """A real face aligned onto the MEGC2019 template, 112 px, as recognition sees it."""
    from mien.align.similarity import CropSpec, warp_face
    from mien.io.images import read_image
    from mien.micro.recognize import MEGC_TEMPLATE
    from mien.registry import create

    image = read_image(media / "pyfeat" / "single_face.jpg")
    detections = create("retinaface", "detector", threads=1).detect(image)
    return warp_face(image, detections.landmarks[0], CropSpec(H, MEGC_TEMPLATE))[0]


# ---------------------------------------------------------------------------------------------- math
def test_strain_of_translation_is_zero_and_of_stretch_is_its_rate():
    yy, xx = np.mgrid[0:20, 0:20].astype(np.float32)
    translation = np.dstack([np.full_like(xx, 3.0), np.full_like(xx, -2.0)])
    assert np.allclose(optical_strain(translation), 0.0)
    stretch = np.dstack([0.1 * xx, np.zeros_like(xx)])  # u = 0.1 x: e_xx = 0.1, others 0
    assert np.allclose(optical_strain(stretch), 0.1, atol=1e-6)
    shear = np.dstack([0.2 * yy, np.zeros_like(xx)])  # u_y = 0.2: e_xy = 0.1, strain = sqrt(2 * 0.01)
    assert np.allclose(optical_strain(shear), np.sqrt(0.02), atol=1e-6)


def test_flow_image_channels_are_minmax_normalised():
    yy, xx = np.mgrid[0:56, 0:56].astype(np.float32)
    flow = np.dstack([0.05 * xx - 1, -0.02 * yy])
    image = flow_image(flow)
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    assert image[..., 0].min() <= 2 and image[..., 0].max() >= 253
    assert image[:, 0, 0].std() < 1e-6 and image[0, :, 0].std() > 10   # u varies along x only
    assert np.all(flow_image(np.zeros((56, 56, 2), np.float32)) == 0)  # no motion: no division by zero


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_recovers_a_known_shift_of_a_real_face(face_crop, method):
    second = remap(face_crop, np.full((H, H), 1.5, np.float32), np.full((H, H), -0.7, np.float32))
    flow = optical_flow(face_crop, second, method)[10:-10, 10:-10]
    assert flow[..., 0].mean() == pytest.approx(1.5, abs=0.15)
    assert flow[..., 1].mean() == pytest.approx(-0.7, abs=0.15)


def test_flow_of_a_smile_points_outwards_and_up_at_the_mouth_corners(face_crop):
    left, right = (0.29 * H, 0.716 * H), (0.71 * H, 0.716 * H)
    fx = -2 * gaussian(*left, 8) + 2 * gaussian(*right, 8)
    fy = -1.5 * (gaussian(*left, 8) + gaussian(*right, 8))
    flow = optical_flow(face_crop, remap(face_crop, fx, fy), "farneback")
    for (cx, cy), sign in ((left, -1), (right, 1)):
        patch = flow[int(cy) - 4:int(cy) + 4, int(cx) - 4:int(cx) + 4]
        assert sign * patch[..., 0].mean() > 1.0      # outwards, most of the 2 px
        assert patch[..., 1].mean() < -0.75           # upwards
    forehead = flow[5:25, 40:70]
    assert np.abs(forehead).mean() < 0.2              # still regions stay still


def test_mirroring_a_pair_mirrors_its_flow_image(face_crop):
    """The recogniser's test-time mirroring relies on: flow image of mirrored frames == mirrored flow image
    with u -> 255 - u."""
    from mien.micro.flow import mirror_flow_image

    fx = 2 * gaussian(0.71 * H, 0.716 * H, 8)
    fy = -1.5 * gaussian(0.71 * H, 0.716 * H, 8)
    second = remap(face_crop, fx, fy)
    direct = flow_image(optical_flow(face_crop[:, ::-1].copy(), second[:, ::-1].copy()))
    flipped = mirror_flow_image(flow_image(optical_flow(face_crop, second))).astype(float)
    for channel in range(3):  # equal up to flow-estimation asymmetry; min-max offsets differ slightly
        correlation = np.corrcoef(direct[..., channel].ravel(), flipped[..., channel].ravel())[0, 1]
        assert correlation > 0.9, (channel, correlation)
