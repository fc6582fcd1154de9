"""Head pose from the dense mesh (``landmarks="mesh"``): synthetic poses, conventions, real images and video."""

from __future__ import annotations

import numpy as np
import pytest

from mesh_render import _frames, render_mesh

from mien.tasks.pose import (angles_from_rotation, camera_matrix, canonical_face, fit_mesh_pose, openface_angles,
                             rotation_from_angles)

LIVEPORTRAIT = "media/liveportrait"


def test_mesh_pose_on_1000_synthetic_poses():
    rng = np.random.default_rng(1)
    camera = camera_matrix(640, 480)
    errors = []
    for _ in range(1000):
        truth = np.array([rng.uniform(-30, 30), rng.uniform(-50, 50), rng.uniform(-30, 30)])
        depth = rng.uniform(400, 1200)
        position = np.array([rng.uniform(-0.3, 0.3) * depth, rng.uniform(-0.25, 0.25) * depth, depth])
        points = render_mesh(rotation_from_angles(*truth), position, camera) + rng.normal(0, 1.0, (468, 3))
        pose = fit_mesh_pose(points, 640, 480)
        errors.append(np.abs(np.array(pose.angles) - truth))
        if len(errors) == 1:  # translation: mm in camera coordinates, of the 68-point centroid
            from mien.models.mesh import ibug68

            expected = rotation_from_angles(*truth) @ ibug68(canonical_face()).mean(0) + position
            assert np.linalg.norm(pose.translation - expected) < 0.03 * depth
    errors = np.array(errors)
    assert np.median(errors, axis=0).max() < 2.0
    assert np.percentile(errors, 95, axis=0).max() < 5.0


def test_a_smile_does_not_move_the_fitted_pose():
    """Moving the mouth, jaw and cheeks of a synthetic face leaves the pose unchanged (they are not used)."""
    camera = camera_matrix(640, 480)
    points = render_mesh(rotation_from_angles(5, -10, 3), np.array([20.0, -10.0, 600.0]), camera)
    face = canonical_face()
    smiling = points.copy()
    lower = face[:, 1] > face[2, 1]  # below the nose: mouth, jaw, chin
    smiling[lower, 1] += 6.0
    smiling[lower, 0] *= 1.02
    a, b = fit_mesh_pose(points, 640, 480).angles, fit_mesh_pose(smiling, 640, 480).angles
    np.testing.assert_allclose(a, b, atol=0.05)
    np.testing.assert_allclose(a, (5, -10, 3), atol=0.05)


def test_openface_angles_follow_openface_conventions():
    for pitch, yaw, roll in [(10, 0, 0), (0, 20, 0), (0, 0, 15), (-12, 25, -8)]:
        rotation = rotation_from_angles(pitch, yaw, roll)
        rx, ry, rz = openface_angles(rotation)
        c, s = np.cos, np.sin
        recomposed = (np.array([[1, 0, 0], [0, c(rx), -s(rx)], [0, s(rx), c(rx)]])
                      @ np.array([[c(ry), 0, s(ry)], [0, 1, 0], [-s(ry), 0, c(ry)]])
                      @ np.array([[c(rz), -s(rz), 0], [s(rz), c(rz), 0], [0, 0, 1]]))
        np.testing.assert_allclose(recomposed, rotation, atol=1e-9)
    # OpenFace: Rx > 0 looking down (mien: pitch < 0), Ry > 0 turned to the image's left (mien: yaw < 0)
    assert openface_angles(rotation_from_angles(10, 0, 0))[0] == pytest.approx(-np.radians(10))
    assert openface_angles(rotation_from_angles(0, 10, 0))[1] == pytest.approx(-np.radians(10))
    assert openface_angles(rotation_from_angles(0, 0, 10))[2] == pytest.approx(np.radians(10))
    assert angles_from_rotation(rotation_from_angles(-12, 25, -8)) == pytest.approx((-12, 25, -8))


@pytest.fixture(scope="module")
def mesh_analyzer():
    from mien import Analyzer

    return Analyzer(threads=2, landmarks="mesh")


def test_yaw_of_a_mirrored_image_is_minus_the_original(mesh_analyzer, pyfeat_media):
    """Every face of six real photos and its mirror image: yaw and roll change sign, pitch stays (median
    within 2 degrees, as issue 14 asks; each face within 4: the network is not exactly mirror-symmetric)."""
    from PIL import Image

    yaw, roll, pitch = [], [], []
    for name in ["single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "45-m7-di-ph.jpg",
                 "15-f13-anc-ph.jpg"]:
        image = np.asarray(Image.open(pyfeat_media / name).convert("RGB"))
        a = mesh_analyzer.analyze(image).to_pandas()
        b = mesh_analyzer.analyze(np.ascontiguousarray(image[:, ::-1])).to_pandas()
        for _, row in a.iterrows():
            centre = image.shape[1] - 1 - (row.face_x + row.face_width / 2)
            match = b.iloc[int(np.argmin(np.abs(b.face_x + b.face_width / 2 - centre)))]
            yaw.append(row.pose_yaw + match.pose_yaw)
            roll.append(row.pose_roll + match.pose_roll)
            pitch.append(row.pose_pitch - match.pose_pitch)
            assert row.pose_Ry + match.pose_Ry == pytest.approx(0, abs=np.radians(4))
    assert len(yaw) >= 10
    for diffs in (yaw, roll, pitch):
        assert np.median(np.abs(diffs)) < 2.0 and np.abs(diffs).max() < 4.0


def test_a_still_head_that_grins_keeps_its_pitch(mesh_analyzer, datasets):
    """d19.mp4: the head stays still (the glasses and hairline keep their rows, checked by eye) while he
    grins broadly at frames 236-249; neutral frames 0-5, 30-79 and 110-149. The 5-point pose moves here
    too; the mesh pose must move by < 3 degrees (issue 14's target), and jitter <= 0.5 degrees per frame."""
    from mien.io.images import Frame

    grin = list(range(236, 250))
    neutral = list(range(0, 6)) + list(range(30, 80)) + list(range(110, 150, 2))
    frames = _frames(datasets / LIVEPORTRAIT / "d19.mp4", set(grin + neutral))
    table = mesh_analyzer.analyze_frames([Frame("d19", i, frames[i], 0.0) for i in sorted(frames)]).to_pandas()
    table = table[table.face_id == 0].set_index("frame")
    assert table.loc[grin, "expr_happy"].mean() > 0.8  # it is a grin
    shift = table.loc[grin, "pose_pitch"].mean() - table.loc[neutral, "pose_pitch"].mean()
    assert abs(shift) < 3.0
    consecutive = table.loc[list(range(30, 80)), "pose_pitch"].to_numpy()
    assert np.abs(np.diff(consecutive)).mean() <= 0.5
