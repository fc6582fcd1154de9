"""Anchor generation, box/landmark decoding, IoU and NMS against hand-computed values."""

import numpy as np

from mien.detect.boxes import decode_boxes, decode_points, iou_matrix, nms, prior_boxes


def test_priors_of_a_32x32_input():
    priors = prior_boxes(32, 32)
    # stride 8: 4x4 cells x 2 sizes; stride 16: 2x2 x 2; stride 32: 1x1 x 2
    assert priors.shape == (32 + 8 + 2, 4)
    np.testing.assert_allclose(priors[0], [4, 4, 16, 16])  # first cell centre, small anchor
    np.testing.assert_allclose(priors[1], [4, 4, 32, 32])  # same cell, second anchor size
    np.testing.assert_allclose(priors[2], [12, 4, 16, 16])  # next cell along x
    np.testing.assert_allclose(priors[32], [8, 8, 64, 64])  # first stride-16 anchor
    np.testing.assert_allclose(priors[-1], [16, 16, 512, 512])  # the single stride-32 cell


def test_priors_round_up_partial_cells():
    assert prior_boxes(20, 36).shape[0] == (3 * 5 + 2 * 3 + 1 * 2) * 2


def test_decode_zero_deltas_gives_the_prior_box():
    priors = np.array([[50.0, 40.0, 20.0, 10.0]])
    np.testing.assert_allclose(decode_boxes(np.zeros((1, 4)), priors), [[40, 35, 60, 45]])


def test_decode_applies_variances():
    priors = np.array([[100.0, 100.0, 10.0, 20.0]])
    deltas = np.array([[1.0, -1.0, np.log(2) / 0.2, 0.0]])
    # centre moves by 0.1 * size; width doubles
    np.testing.assert_allclose(decode_boxes(deltas, priors), [[91, 88, 111, 108]], atol=1e-9)


def test_decode_points():
    priors = np.array([[10.0, 20.0, 100.0, 50.0]])
    deltas = np.array([[1.0, 2.0, -1.0, 0.0]])
    np.testing.assert_allclose(decode_points(deltas, priors, 0.1), [[[20, 30], [0, 20]]])


def test_iou_hand_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]], rtol=1e-6)


def test_nms_keeps_best_of_overlapping_and_disjoint_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2]
