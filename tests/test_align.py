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
