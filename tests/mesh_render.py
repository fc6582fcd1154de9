"""Helpers for the mesh tests: an ideal FaceMesh output rendered from the canonical face, and real video
frames by index (shared by tests/tasks/test_mesh_pose.py and
tests/tasks/test_gaze.py; importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import numpy as np

from mien.tasks.pose import canonical_face, ray_rotation


def render_mesh(rotation: np.ndarray, position: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """An ideal FaceMesh output for the canonical face at a pose: perspective x, y and the depth along the
    viewing ray in pixels at the face's distance (the network sees the face along that ray)."""
    from mien.models.mesh import ibug68

    world = canonical_face() @ rotation.T + position
    pixels = world @ camera.T
    face_centre = ibug68(world).mean(axis=0)  # z on the x, y scale of the face itself (not the head's centre)
    centre = camera @ face_centre
    ray = ray_rotation(centre[0] / centre[2], centre[1] / centre[2], camera)
    z = ((world - face_centre) @ ray)[:, 2] * camera[0, 0] / np.linalg.norm(face_centre)
    return np.column_stack([pixels[:, :2] / pixels[:, 2:3], z])


def _frames(path, wanted: set[int]) -> dict[int, np.ndarray]:
    import av

    frames = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= max(wanted):
                break
    return frames
