"""Head pose from the five landmarks (mien.tasks.pose): geometry by hand, synthetic and real faces."""

from __future__ import annotations

import numpy as np
import pytest

from mien.tasks.pose import (FACE_MODEL_5, angles_from_rotation, camera_matrix, estimate_pose, estimate_poses,
                             project, rotation_from_angles)

POSES = [(0, 0, 0), (15, 0, 0), (-25, 0, 0), (0, 30, 0), (0, 0, 20), (-20, -35, 10), (10, 50, -15), (40, 10, 5)]


@pytest.mark.parametrize("pose", POSES)
def test_rotation_angles_round_trip(pose):
    assert np.allclose(angles_from_rotation(rotation_from_angles(*pose)), pose, atol=1e-9)


def test_pose_conventions_by_hand():
    """Chin up moves the nose tip up in the image; turning right moves it right; clockwise roll raises the
    image-left eye."""
    camera = camera_matrix(640, 480)
    where = np.array([0.0, 0.0, 600.0])
    frontal = project(FACE_MODEL_5, rotation_from_angles(0, 0, 0), where, camera)
    assert project(FACE_MODEL_5, rotation_from_angles(15, 0, 0), where, camera)[2, 1] < frontal[2, 1]
    assert project(FACE_MODEL_5, rotation_from_angles(0, 20, 0), where, camera)[2, 0] > frontal[2, 0]
    rolled = project(FACE_MODEL_5, rotation_from_angles(0, 0, 10), where, camera)
    assert rolled[0, 1] < rolled[1, 1]


@pytest.mark.parametrize("pose", POSES)
def test_pose_is_recovered_from_projected_landmarks(pose):
    camera = camera_matrix(640, 480)
    landmarks = project(FACE_MODEL_5, rotation_from_angles(*pose), np.array([30.0, -20.0, 700.0]), camera)
    assert np.allclose(estimate_pose(landmarks, 640, 480), pose, atol=0.5)


def test_pose_ignores_the_mouth_and_handles_missing_landmarks():
    camera = camera_matrix(640, 480)
    landmarks = project(FACE_MODEL_5, rotation_from_angles(5, -10, 3), np.array([0.0, 0.0, 650.0]), camera)
    smiling = landmarks.copy()
    smiling[3:] += [[-6, -8], [6, -8]]  # corners pulled up and out
    assert np.allclose(estimate_pose(smiling, 640, 480), estimate_pose(landmarks, 640, 480))
    assert np.isnan(estimate_pose(np.full((5, 2), np.nan), 640, 480)).all()
    assert estimate_poses(np.zeros((0, 5, 2)), 640, 480).shape == (0, 3)


def test_real_photo_pose_flips_with_the_mirror(analyzer, pyfeat_media):
    from mien.io.images import read_image

    image = read_image(pyfeat_media / "multi_face.jpg")
    original = analyzer.analyze(image)
    mirrored = analyzer.analyze(image[:, ::-1].copy())
    assert len(original) == len(mirrored) == 5
    # pair faces by mirrored box centres
    centres = (original.boxes[:, 0] + original.boxes[:, 2]) / 2
    mirror_centres = image.shape[1] - (mirrored.boxes[:, 0] + mirrored.boxes[:, 2]) / 2
    order = [int(np.argmin(np.abs(mirror_centres - c))) for c in centres]
    pose, mirror_pose = original.head_pose, mirrored.head_pose[order]
    # the detector's landmarks are not exactly mirror-symmetric: a few degrees of disagreement is expected
    assert np.abs(pose[:, 0] - mirror_pose[:, 0]).max() < 8      # pitch unchanged
    assert np.abs(pose[:, 1] + mirror_pose[:, 1]).max() < 8      # yaw negated
    assert np.abs(pose[:, 2] + mirror_pose[:, 2]).max() < 8      # roll negated
    assert np.abs(pose).max() < 45                               # a group photo: nobody turned away


def test_pose_on_random_synthetic_faces_including_looking_down():
    """Three points can fit several poses; the mouth breaks the tie. Faces looking down defeat the closed
    form (perspective enlarges the nose's drop), so the refinement must recover them from other starts."""
    rng = np.random.default_rng(7)
    camera = camera_matrix(640, 480)
    errors = []
    for _ in range(200):
        pose = rng.uniform([-30, -60, -30], [45, 60, 30])
        landmarks = project(FACE_MODEL_5, rotation_from_angles(*pose), np.array([*rng.uniform(-80, 80, 2), 600.0]), camera)
        errors.append(np.abs(np.array(estimate_pose(landmarks, 640, 480)) - pose).max())
    assert np.mean(np.array(errors) < 1.0) >= 0.98
