"""Tracking identities: hand-made box sequences with known answers."""

import numpy as np
import pytest

from mien.video.tracker import IouTracker


def box(x, y, size=50):
    return [x, y, x + size, y + size]


def test_two_faces_keep_their_ids_while_moving():
    tracker = IouTracker()
    ids = [tracker.update(np.array([box(10 + 5 * t, 10), box(300 - 5 * t, 50)]), t / 30).tolist() for t in range(20)]
    assert all(i == [0, 1] for i in ids)


def test_order_of_detections_does_not_matter():
    tracker = IouTracker()
    tracker.update(np.array([box(10, 10), box(300, 50)]), 0.0)
    assert tracker.update(np.array([box(302, 50), box(12, 10)]), 1 / 30).tolist() == [1, 0]


def test_fast_motion_is_followed_by_velocity_prediction():
    tracker = IouTracker()
    # 40 px per frame with a 50 px box: consecutive boxes overlap little; prediction bridges it
    ids = [int(tracker.update(np.array([box(40 * t, 0)]), t / 30)[0]) for t in range(10)]
    assert ids == [0] * 10


def test_short_miss_keeps_the_id_and_long_absence_does_not():
    tracker = IouTracker(max_missed_seconds=0.5, reentry_seconds=0.5)
    tracker.update(np.array([box(100, 100)]), 0.0)
    tracker.update(np.zeros((0, 4)), 0.2)  # detector missed it
    assert tracker.update(np.array([box(102, 100)]), 0.3).tolist() == [0]
    assert tracker.update(np.array([box(102, 100)]), 2.0).tolist() == [1]  # gone > 0.5 s: a new track


def test_reentry_near_the_exit_point_gets_the_old_id():
    tracker = IouTracker(max_missed_seconds=2.0)
    tracker.update(np.array([box(0, 100)]), 0.0)
    # the face leaves, comes back shifted by 40 px (IoU < 0.3) within 2 s
    assert tracker.update(np.array([box(40, 110)]), 1.5).tolist() == [0]


def test_new_faces_get_new_ids_and_ids_are_never_reused():
    tracker = IouTracker(max_missed_seconds=0.1, reentry_seconds=0.1)
    assert tracker.update(np.array([box(0, 0)]), 0.0).tolist() == [0]
    assert tracker.update(np.array([box(500, 500)]), 1.0).tolist() == [1]
    assert tracker.update(np.array([box(0, 0), box(500, 500)]), 1.05).tolist() == [2, 1]


def test_a_face_back_after_several_seconds_near_its_exit_gets_its_id():
    tracker = IouTracker(max_missed_seconds=0.5, reentry_seconds=5.0)
    tracker.update(np.array([box(100, 100)]), 0.0)
    assert tracker.update(np.array([box(110, 100)]), 3.0).tolist() == [0]  # lost for 3 s, then back
    assert tracker.update(np.array([box(110, 100)]), 9.0).tolist() == [1]  # gone too long


def test_two_faces_reentering_together_are_matched_by_distance_not_order():
    tracker = IouTracker(max_missed_seconds=0.2, reentry_seconds=5.0)
    tracker.update(np.array([box(0, 0), box(200, 0)]), 0.0)
    # both return, listed right face first, each a little shifted (no overlap test: they are lost)
    assert tracker.update(np.array([box(215, 0), box(15, 0)]), 2.0).tolist() == [1, 0]


def test_unmatched_predictions_are_the_faces_just_missed():
    tracker = IouTracker()
    tracker.update(np.array([box(0, 0), box(200, 0)]), 0.0)
    ids = tracker.update(np.array([box(1, 0)]), 0.04)
    np.testing.assert_allclose(tracker.unmatched_predictions(0.04, ids), [box(200, 0)])


def test_restored_tracks_continue_their_ids_and_new_ids_start_after_them():
    tracker = IouTracker()
    tracker.restore([(3, box(100, 100), 1.0), (5, box(300, 100), 1.0)], next_id=2)
    assert tracker.live_ids() == {3, 5}
    ids, predicted = tracker.predicted_boxes(1.5)
    assert ids == [3, 5]
    np.testing.assert_allclose(predicted, [box(100, 100), box(300, 100)])  # restored at rest: no velocity
    # the face at 100 moved 2 px (IoU 48*50 / (52*50) > 0.3), a new face far away gets the next free id: 6
    assert tracker.update(np.array([box(102, 100), box(600, 600)]), 1.04).tolist() == [3, 6]


def test_restore_honours_a_higher_first_id_and_refuses_an_id_in_use():
    tracker = IouTracker()
    tracker.restore([(1, box(0, 0), 0.0)], next_id=10)
    assert tracker.update(np.array([box(500, 500)]), 0.04).tolist() == [10]
    with pytest.raises(ValueError, match="track 1 is already in use"):
        tracker.restore([(1, box(0, 0), 0.0)])


def test_a_seeded_smoother_continues_from_the_seed():
    from mien.video.smoothing import ExponentialSmoother

    smoother = ExponentialSmoother(tau=0.3)
    seed = np.zeros(8, np.float32)
    seed[0] = 1.0  # all neutral at t = 1.0 s
    smoother.seed(7, 1.0, seed)
    new = np.zeros((1, 8), np.float32)
    new[0, 1] = 1.0  # all happy at t = 1.3 s: one time constant later, weight 1 - e^-1 = 0.632
    out = smoother.update(np.array([7]), 1.3, new)
    weight = 1 - np.exp(-1.0)
    np.testing.assert_allclose(out[0, :2], [1 - weight, weight], rtol=1e-6)
    np.testing.assert_allclose(out[0, 2:], 0.0)
    smoother.forget({8})
    assert smoother.update(np.array([7]), 1.4, new)[0, 1] == 1.0  # forgotten: starts afresh
