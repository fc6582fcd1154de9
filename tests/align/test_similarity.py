"""Similarity estimation and crop geometry against known transforms."""

import numpy as np
import pytest

from mien.align import (
    ARCFACE_TEMPLATE, CropSpec, apply_affine, estimate_similarity, invert_affine, outside_fraction, warp_face,
)


def similarity(scale, angle_deg, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


@pytest.mark.parametrize("scale,angle,tx,ty", [(1, 0, 0, 0), (2.5, 30, -4, 7), (0.3, -120, 100, 50)])
def test_recovers_a_known_similarity(scale, angle, tx, ty):
    src = np.array([[10, 20], [40, 22], [25, 35], [15, 50], [38, 49]], float)
    matrix = similarity(scale, angle, tx, ty)
    np.testing.assert_allclose(estimate_similarity(src, apply_affine(matrix, src)), matrix, atol=1e-9)


def test_never_returns_a_reflection():
    src = np.array([[0, 0], [1, 0], [0, 1]], float)
    mirrored = src * [-1, 1]
    matrix = estimate_similarity(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_two_point_hand_case():
    # eyes 10 px apart at y=5 mapped to 20 px apart at y=0: scale 2, no rotation
    matrix = estimate_similarity(np.array([[0, 5], [10, 5]]), np.array([[0, 0], [20, 0]]))
    np.testing.assert_allclose(matrix, [[2, 0, 0], [0, 2, -10]], atol=1e-12)


def test_invert_affine_round_trip():
    matrix = similarity(1.7, 25, 3, -9)
    points = np.array([[1.0, 2.0], [30.0, -4.0]])
    np.testing.assert_allclose(apply_affine(invert_affine(matrix), apply_affine(matrix, points)), points)


def test_warp_puts_landmarks_on_the_template():
    crop = CropSpec(112)
    image = np.zeros((300, 300, 3), np.uint8)
    landmarks = ARCFACE_TEMPLATE * 112 * 2 + 40  # the template, twice as big, shifted
    aligned, matrix = warp_face(image, landmarks, crop)
    assert aligned.shape == (112, 112, 3)
    np.testing.assert_allclose(apply_affine(matrix, landmarks), crop.template_pixels(), atol=1e-6)


def test_outside_fraction_hand_cases():
    inside = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # crop == top-left 64x64 of a 100x100 image
    assert outside_fraction(inside, 64, 100, 100) == 0.0
    shifted = np.array([[1.0, 0, 32], [0, 1.0, 0]])  # crop x = image x + 32: the left half is outside
    assert outside_fraction(shifted, 64, 100, 100) == pytest.approx(0.5)


def test_shrinking_a_large_face_is_antialiased():
    # 1-pixel checkerboard: its true average is mid-grey; plain bilinear sampling at 1/8 scale aliases.
    board = ((np.indices((512, 512)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = np.repeat(board[..., None], 3, axis=2)
    crop = CropSpec(64)
    landmarks = ARCFACE_TEMPLATE * 512  # the face fills the image: scale 1/8
    aligned, matrix = warp_face(image, landmarks, crop)
    assert abs(aligned.mean() - 127.5) < 3 and aligned.std() < 3
    np.testing.assert_allclose(apply_affine(matrix, landmarks), crop.template_pixels(), atol=1e-6)


def test_antialiased_warp_matches_plain_warp_on_smooth_images():
    ys, xs = np.mgrid[0:400, 0:400]
    image = np.repeat(((xs + 2 * ys) * 255 / 1200).astype(np.uint8)[..., None], 3, axis=2)  # a smooth ramp
    matrix = np.array([[0.2, 0.0, -10.0], [0.0, 0.2, -5.0]])  # shrink 5x
    import cv2

    plain = cv2.warpAffine(image, matrix, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    from mien.align import warp_with_matrix

    smooth = warp_with_matrix(image, matrix, 64)
    assert np.abs(plain[8:-8, 8:-8].astype(int) - smooth[8:-8, 8:-8].astype(int)).max() <= 2


def test_whole_image_crop_maps_image_edges_to_crop_edges():
    from mien.align import crop_whole_image

    image = np.zeros((100, 50, 3), np.uint8)
    resized, matrix = crop_whole_image(image, 64)
    assert resized.shape == (64, 64, 3)
    # pixel-centre convention: the outer edges of the image (-0.5 and size - 0.5) map onto the crop's edges
    edges = apply_affine(matrix, np.array([[-0.5, -0.5], [49.5, 99.5]]))
    np.testing.assert_allclose(edges, [[-0.5, -0.5], [63.5, 63.5]], atol=1e-9)
