"""Gaze from the iris and the head pose (``landmarks="mesh"``): synthetic eyes and real faces."""

from __future__ import annotations

import numpy as np
import pytest
from mesh_render import render_mesh

from mien.tasks.gaze import EYE_CORNERS, IRIS_RADIUS_MM, eye_gaze, eyeball_offsets, gaze_angles
from mien.tasks.pose import camera_matrix, canonical_face, fit_mesh_pose, rotation_from_angles


def synthetic_eyes(head: tuple[float, float, float], eye_yaw: float, eye_pitch: float):
    """A rendered canonical face whose eyes look ``eye_yaw`` degrees to the image's right and ``eye_pitch``
    degrees down, relative to the direction from each eye to the camera; returns mesh, iris centres, pose and
    the true gaze vectors (camera coordinates)."""
    camera = camera_matrix(640, 480)
    rotation = rotation_from_angles(*head)
    position = np.array([30.0, -20.0, 600.0])
    points = render_mesh(rotation, position, camera)
    pose = fit_mesh_pose(points, 640, 480)
    face = canonical_face()
    iris, truth = [], []
    for eye, (a, b) in enumerate(EYE_CORNERS):
        centre = rotation @ ((face[a] + face[b]) / 2 + eyeball_offsets()[eye]) + position  # mm, camera frame
        to_camera = -centre / np.linalg.norm(centre)
        yaw, pitch = np.radians(eye_yaw), np.radians(eye_pitch)
        turn_x = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        turn_y = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
        # rotating -z towards +x is a negative turn about y; towards +y (down) a negative turn about x
        direction = turn_x.T @ turn_y.T @ to_camera
        truth.append(direction)
        pupil = centre + IRIS_RADIUS_MM * direction
        pixel = camera @ pupil
        iris.append(pixel[:2] / pixel[2])
    return points, np.array(iris), pose, np.array(truth)


def test_gaze_at_the_camera_points_at_the_camera():
    for head in [(0, 0, 0), (10, -20, 5), (-15, 30, -10)]:
        points, iris, pose, truth = synthetic_eyes(head, 0.0, 0.0)
        vectors = eye_gaze(points, iris, pose)
        angles_between = np.degrees(np.arccos(np.clip((vectors * truth).sum(1), -1, 1)))
        assert angles_between.max() < 1.0, head


@pytest.mark.parametrize("axis", ["x", "y"])
def test_gaze_follows_a_synthetic_eye_rotation(axis):
    """Rotating both eyes from -30 to +30 degrees: the gaze angle grows monotonically and follows the truth
    (within 1 degree; the head pose fit's own error)."""
    rotations = np.arange(-30, 31, 5.0)
    measured, expected = [], []
    for degrees in rotations:
        points, iris, pose, truth = synthetic_eyes((5, 15, 0), degrees if axis == "x" else 0.0,
                                                   degrees if axis == "y" else 0.0)
        got, want = gaze_angles(eye_gaze(points, iris, pose)), gaze_angles(truth)
        index = 0 if axis == "x" else 1
        measured.append(got[index])
        expected.append(want[index])
    measured, expected = np.degrees(measured), np.degrees(expected)
    assert (np.diff(measured) > 0).all()
    assert np.abs(measured - expected).max() < 1.0


@pytest.fixture(scope="module")
def mesh_analyzer():
    from mien import Analyzer

    return Analyzer(threads=2, landmarks="mesh")


def test_gaze_on_a_real_face_looking_at_the_camera_and_its_mirror(mesh_analyzer, pyfeat_media):
    """single_face.jpg looks into the camera: both angles near 0; the mirror image flips the horizontal one."""
    from PIL import Image

    image = np.asarray(Image.open(pyfeat_media / "single_face.jpg").convert("RGB"))
    a = mesh_analyzer.analyze(image).to_pandas().iloc[0]
    b = mesh_analyzer.analyze(np.ascontiguousarray(image[:, ::-1])).to_pandas().iloc[0]
    assert abs(np.degrees(a.gaze_angle_x)) < 5 and abs(np.degrees(a.gaze_angle_y)) < 8
    assert np.degrees(a.gaze_angle_x + b.gaze_angle_x) == pytest.approx(0, abs=3)
    assert np.degrees(a.gaze_angle_y - b.gaze_angle_y) == pytest.approx(0, abs=3)
    for eye in (0, 1):  # unit vectors pointing back towards the camera
        vector = np.array([a[f"gaze_{eye}_{c}"] for c in "xyz"])
        assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-5) and vector[2] < -0.8


def test_gaze_follows_the_eyes_in_a_real_clip(mesh_analyzer, datasets):
    """d0.mp4, head still, eyes moving (checked by eye on the frames): into the camera at frames 0-8, to the
    image's right (his left) at 44-52, to the image's left at 40 and 56."""
    from mesh_render import _frames

    from mien.io.images import Frame

    ahead, right, left = [0, 2, 4, 6, 8], [44, 48, 52], [40, 56]
    frames = _frames(datasets / "media/liveportrait/d0.mp4", set(ahead + right + left))
    table = mesh_analyzer.analyze_frames([Frame("d0", i, frames[i], 0.0) for i in sorted(frames)]).to_pandas()
    angle = np.degrees(table.set_index("frame").gaze_angle_x)
    assert angle[ahead].abs().max() < 6
    assert angle[right].min() > 15
    assert angle[left].max() < -10
