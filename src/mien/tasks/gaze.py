"""Eye gaze from the iris and the head pose (``landmarks="mesh"``), in OpenFace's conventions.

Per eye, the gaze direction is the unit vector from the eyeball's centre through the iris centre, in
camera coordinates (x right, y down, z forward, as OpenFace's ``gaze_0_*`` / ``gaze_1_*``; eye 0 is the
image-left eye). Looking straight into a camera in front of the face gives about (0, 0, -1).

Model (a geometric estimate, not a learned gaze model):
- the eyeball centre sits at a fixed offset, in the head's frame, from the midpoint of the two eye corners
  (the canthi, which expressions and blinks barely move): behind the middle of the canonical face's eye
  opening by :data:`IRIS_RADIUS_MM` (and :data:`EYEBALL_RAISE_MM` higher, a calibration), so that an eye
  looking straight ahead along the head's axis puts the iris centre in front of the eyeball centre. The offset is turned and scaled by the fitted head pose
  (:class:`mien.tasks.pose.MeshPose`) and added to the person's own measured eye corners;
- the iris centre (MediaPipe Iris) lies on a sphere of radius :data:`IRIS_RADIUS_MM` around it; its image
  offset from the projected eyeball centre, divided by that radius in pixels, gives the gaze's x and y in
  the frame of the viewing ray (weak perspective); z points towards the camera; the ray's rotation then
  gives camera coordinates.

``gaze_angle_x = atan2(g_x, -g_z)``, ``gaze_angle_y = atan2(g_y, -g_z)`` of the mean of both eyes' vectors
(radians; x > 0 = looking towards the image's right, y > 0 = looking down), as OpenFace 2 computes them.

Accuracy, honestly: no gaze-labelled data was available offline, so the absolute accuracy is unmeasured.
Checked: a face looking at the camera gives angles near 0, a mirrored image flips ``gaze_angle_x``, and on
synthetic eyes (iris placed on the model's sphere) the angles follow the eye rotation exactly. Expect
several degrees of per-person bias (eye geometry differs from the canonical face's) and noise from the
iris position (a 1-pixel iris error is ~4 degrees for a face 100 pixels wide).
"""

from __future__ import annotations

import numpy as np

GAZE_METHOD = "iris-eyeball-v1"
IRIS_RADIUS_MM = 10.5  # eyeball centre to the iris centre (the eye's radius ~12 mm minus the anterior chamber)
# The eyeball centre lies this far above the middle of the canonical eye opening. Calibrated, not measured:
# without it, people talking into the camera (the 11 LivePortrait driving clips of ../shared/datasets/media,
# every 15th frame) get a median vertical gaze of -10 degrees (the iris sits above the eye opening's centre);
# 1.9 mm = 10.5 mm x sin(10.5 degrees) brings that median to about 0.
EYEBALL_RAISE_MM = 1.9

# The canonical face's eye openings (MediaPipe's 16-point eye contours), image-left eye then image-right.
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
)
EYE_CORNERS = ((33, 133), (362, 263))
LID_MIDDLES = ((159, 145), (386, 374))  # upper and lower lid in the middle of each eye: they rest on the cornea


def eyeball_offsets() -> np.ndarray:
    """(2, 3) head-frame offsets (mm) from the midpoint of each eye's corners to its eyeball centre."""
    from mien.tasks.pose import canonical_face

    face = canonical_face()
    offsets = []
    for contour, corners, lids in zip(EYE_CONTOURS, EYE_CORNERS, LID_MIDDLES):
        centre = face[list(contour)].mean(axis=0)
        centre[1] -= EYEBALL_RAISE_MM  # y grows downwards
        centre[2] = face[list(lids), 2].mean() + IRIS_RADIUS_MM  # z grows away from the camera
        offsets.append(centre - face[list(corners)].mean(axis=0))
    return np.array(offsets)


def eye_gaze(mesh_points: np.ndarray, iris_centres: np.ndarray, pose) -> np.ndarray:
    """(2, 3) unit gaze vectors (camera coordinates) of the image-left and image-right eye of one face.

    ``mesh_points`` (468, 3) image pixels, ``iris_centres`` (2, 2) image pixels, ``pose`` a
    :class:`~mien.tasks.pose.MeshPose` (NaN vectors without one).
    """
    out = np.full((2, 3), np.nan)
    if pose is None or not np.isfinite(iris_centres).all():
        return out
    offsets = eyeball_offsets() * pose.scale @ pose.fit_rotation.T  # image pixels along the viewing ray
    radius = IRIS_RADIUS_MM * pose.scale
    for eye, (a, b) in enumerate(EYE_CORNERS):
        centre = (mesh_points[a, :2] + mesh_points[b, :2]) / 2 + offsets[eye, :2]
        d = (iris_centres[eye] - centre) / radius
        norm = float(np.hypot(*d))
        if norm > 0.99:  # the iris cannot lie outside the eyeball's outline
            d *= 0.99 / norm
        along_ray = np.array([d[0], d[1], -np.sqrt(1.0 - float(d @ d))])
        out[eye] = pose.ray @ along_ray
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
