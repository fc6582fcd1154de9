"""Head pose (pitch, yaw, roll in degrees) from facial landmarks, by perspective-n-point on a 3D face model.

Conventions (the person's own directions; the camera sees them mirrored):
    pitch: rotation about the ear-to-ear axis; positive = chin up (looking up), negative = looking down.
    yaw:   rotation about the vertical axis; positive = face turned towards the IMAGE's right (the
           person's left), negative = towards the image's left.
    roll:  in-plane tilt; positive = the head tilts clockwise in the image (towards the image's right
           at the top: the person's left ear towards their left shoulder).
All three are 0 for a face looking straight into the camera; values are about ±90 at most.

The 3D model is an average adult face in millimetres (x right, y down, z away from the camera, origin
between the eyes). Its frontal 2D proportions equal the ArcFace 5-point template that mien aligns to,
so a face the detector sees frontally gets pitch ~0. Depths follow anthropometric averages (nose tip
about 25 mm in front of the eyes). With only 5 points the pose is a coarse estimate (a few degrees of
bias for unusual face shapes).

With ``landmarks="mesh"`` the pose comes instead from the 468-point face mesh (:func:`fit_mesh_pose`): a
robust rigid fit of MediaPipe's canonical face to the mesh's expression-invariant points
(:data:`RIGID_POINTS`), refined by perspective-n-point. Measured (benchmarks/bench_geometry.py): median error
0.2 degrees on 1,000 synthetic poses, a mirrored photo's yaw within 1 degree of minus the original (median),
pitch jitter 0.1-0.4 degrees per frame on still-head clips (the 5-point pose: 0.3-2.3), and a broad grin on a
still head moves pitch by 0.9 degrees (the 5-point pose: 6). The same rotation is also given in OpenFace's
convention (:func:`openface_angles`) with the head's position in millimetres.
"""

from __future__ import annotations

import cv2
import numpy as np

POSE_METHOD = "eyes-nose-pnp-v1"

# left eye, right eye (image left/right), nose tip, left and right mouth corner; millimetres
FACE_MODEL_5 = np.array([
    [-31.5, 0.0, 0.0],
    [31.5, 0.0, 0.0],
    [0.0, 36.0, -25.0],
    [-26.0, 73.0, -6.0],
    [26.0, 73.0, -6.0],
], np.float64)


def camera_matrix(width: int, height: int) -> np.ndarray:
    """A pinhole camera with focal length = the image's longer side (about a 53-degree field of view)."""
    focal = float(max(width, height))
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)


def rotation_from_angles(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The rotation (model -> camera) of a head at the given pose in degrees (conventions above)."""
    p, y, r = np.radians([pitch, yaw, roll])
    # camera axes: x right, y down, z forward. Chin up moves the chin (+y) towards the camera (-z):
    # a rotation of -pitch about x. Turning towards the image's right moves the nose (-z) to +x:
    # a rotation of -yaw about y. Clockwise tilt in the image is +roll about z (y down).
    rx = np.array([[1, 0, 0], [0, np.cos(-p), -np.sin(-p)], [0, np.sin(-p), np.cos(-p)]])
    ry = np.array([[np.cos(-y), 0, np.sin(-y)], [0, 1, 0], [-np.sin(-y), 0, np.cos(-y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_angles`: (pitch, yaw, roll) in degrees."""
    # R = Rz(r) Ry(-y) Rx(-p): R[2,0] = sin(y); R[2,1] = sin(-p)cos(y)... solved in the usual way
    yaw = np.degrees(np.arcsin(np.clip(rotation[2, 0], -1.0, 1.0)))
    pitch = -np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(pitch), float(yaw), float(roll)


def project(model: np.ndarray, rotation: np.ndarray, translation: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Pixel positions of 3D model points under a pose (used by tests and for drawing axes)."""
    points = model @ rotation.T + translation
    pixels = points @ camera.T
    return pixels[:, :2] / pixels[:, 2:3]


EYE_DISTANCE_MM = 63.0
NOSE_BELOW_EYES_MM = float(FACE_MODEL_5[2, 1])
NOSE_DEPTH_MM = float(-FACE_MODEL_5[2, 2])
_NOSE_RADIUS = float(np.hypot(NOSE_BELOW_EYES_MM, NOSE_DEPTH_MM))
_NOSE_ANGLE = float(np.arctan2(NOSE_DEPTH_MM, NOSE_BELOW_EYES_MM))
MIN_PITCH = -float(np.degrees(_NOSE_ANGLE))  # below this the 3-point geometry is ambiguous


def initial_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Closed-form (pitch, yaw, roll) in degrees from the eyes and nose tip under weak perspective.

    Roll is the angle of the eye line; after removing it, yaw follows from the nose's sideways offset
    against the eye distance and pitch from its drop below the eye line. Exact for frontal faces, off by
    up to ~15 degrees when pitch and yaw combine; :func:`estimate_pose` refines it.
    """
    points = np.asarray(landmarks, np.float64)
    if points.shape[0] < 3 or not np.isfinite(points[:3]).all():
        return (float("nan"),) * 3
    left_eye, right_eye, nose = points[0], points[1], points[2]
    eye_line = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_line))
    if eye_distance < 1e-6:
        return (float("nan"),) * 3
    roll = float(np.arctan2(eye_line[1], eye_line[0]))
    cos_r, sin_r = np.cos(-roll), np.sin(-roll)
    offset = nose - (left_eye + right_eye) / 2
    dx = cos_r * offset[0] - sin_r * offset[1]
    dy = sin_r * offset[0] + cos_r * offset[1]
    yaw = float(np.arctan2(dx * EYE_DISTANCE_MM, eye_distance * NOSE_DEPTH_MM))
    pixels_per_mm = eye_distance / (EYE_DISTANCE_MM * max(np.cos(yaw), 0.2))
    drop = float(np.clip(dy / (pixels_per_mm * _NOSE_RADIUS), -1.0, 1.0))
    pitch = float(np.arccos(drop)) - _NOSE_ANGLE
    return float(np.degrees(pitch)), float(np.degrees(yaw)), float(np.degrees(roll))


def _refine(points: np.ndarray, camera: np.ndarray, start: tuple[float, float, float], centre: np.ndarray):
    """Levenberg-Marquardt on the eyes and nose tip from a starting pose; (rvec, tvec) or None."""
    rvec = cv2.Rodrigues(rotation_from_angles(*start))[0]
    try:
        rvec, tvec = cv2.solvePnPRefineLM(FACE_MODEL_5[:3], points[:3].copy(), camera, None, rvec, centre.reshape(3, 1))
    except cv2.error:
        return None
    if tvec[2, 0] <= 0 or not np.isfinite(rvec).all():
        return None
    return rvec, tvec


def _reprojection_error(points: np.ndarray, camera: np.ndarray, rvec, tvec, rows: slice) -> float:
    projected = project(FACE_MODEL_5[rows], cv2.Rodrigues(rvec)[0], tvec.ravel(), camera)
    return float(np.linalg.norm(projected - points[rows], axis=1).mean())


def estimate_pose(landmarks: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees for one face's 5 landmarks in a ``width x height`` image (NaN when missing).

    The pose is fitted to the eyes and the nose tip: the mouth corners move with the expression (a smile
    raises them, which a 5-point fit reads as the head tilting down, by up to 30 degrees on real photos).
    Three points fix the 6 pose parameters exactly but may allow up to four poses, so Levenberg-Marquardt
    on the perspective projection starts from the closed-form estimate and from a few nearby poses, and
    among the exact fits the one whose predicted mouth corners lie closest to the detected ones wins (the
    mouth only breaks ties). Exact on synthetic projections; reliable to about -35 degrees pitch (looking
    down), +60 up, and +-60 yaw.
    """
    points = np.asarray(landmarks, np.float64)
    pitch, yaw, roll = initial_pose(points)
    if not np.isfinite([pitch, yaw, roll]).all():
        return pitch, yaw, roll
    camera = camera_matrix(width, height)
    eye_distance = float(np.linalg.norm(points[1] - points[0]))
    depth = camera[0, 0] * EYE_DISTANCE_MM / eye_distance
    centre = np.linalg.solve(camera, np.array([*points[:2].mean(0), 1.0])) * depth
    # the closed form misreads faces looking down (perspective enlarges the nose's drop): try those too
    starts = [(pitch, yaw, roll), (-25.0, yaw, roll), (-40.0, yaw, roll), (-25.0, 1.8 * yaw, roll),
              (pitch, yaw - 25.0, roll), (pitch, yaw + 25.0, roll)]
    mouth_known = points.shape[0] >= 5 and np.isfinite(points[3:5]).all()
    best, best_score = None, float("inf")
    for start in starts:
        fitted = _refine(points, camera, start, centre)
        if fitted is None or _reprojection_error(points, camera, *fitted, slice(0, 3)) > 0.5:
            continue
        score = _reprojection_error(points, camera, *fitted, slice(3, 5)) if mouth_known else 0.0
        if score < best_score - 1e-6:
            best, best_score = fitted, score
        if not mouth_known or best_score < 0.05 * eye_distance:  # the mouth fits already: no need to look further
            break
    if best is None:
        return pitch, yaw, roll
    return angles_from_rotation(cv2.Rodrigues(best[0])[0])


def estimate_poses(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 3) float32 pitch, yaw, roll for (N, 5, 2) landmarks of faces in one image."""
    if len(landmarks) == 0:
        return np.zeros((0, 3), np.float32)
    return np.array([estimate_pose(points, width, height) for points in landmarks], np.float32)


# ------------------------------------------------------------------------------------------------------
# Head pose from the dense mesh (``landmarks="mesh"``): a rigid fit of MediaPipe's canonical face
# ------------------------------------------------------------------------------------------------------
MESH_POSE_METHOD = "mesh-rigid-procrustes-v1"

# Points of the canonical face that expressions barely move: forehead, nose bridge, sidewalls and tip, eye
# corners, and the sides of the head at eye level (towards the ears: far behind the nose, they are what
# fixes pitch best). No mouth, jaw, cheeks, lids or brows. Chosen on still heads that grin
# (../shared/datasets/media/liveportrait/d19.mp4): the forehead, nose and corners alone read a broad grin as
# the chin rising by 7 degrees (the network moves the nose and forehead points with the cheeks); with the
# sides of the head, the pitch moves by 1 degree.
RIGID_POINTS: tuple[int, ...] = (
    10, 151, 9, 8, 108, 337, 109, 338, 67, 297, 69, 299, 104, 333,  # forehead
    168, 6, 197, 195, 196, 419, 122, 351, 174, 399, 188, 412,        # nose bridge and sidewalls
    5, 4, 1, 3, 248, 236, 456,                                       # nose tip
    133, 362, 243, 463, 33, 263, 130, 359,                           # eye corners
    127, 356, 234, 454, 162, 389, 21, 251, 93, 323,                  # sides of the head at eye level
)


def canonical_face() -> np.ndarray:
    """(468, 3) MediaPipe's canonical face in millimetres, x right, y down, z away from the camera."""
    global _CANONICAL
    if _CANONICAL is None:
        import json
        from pathlib import Path

        path = Path(__file__).resolve().parents[1] / "models" / "weights" / "canonical_face_model.json"
        _CANONICAL = np.asarray(json.loads(path.read_text())["vertices"], np.float64)
    return _CANONICAL


_CANONICAL: np.ndarray | None = None
_CENTRE: np.ndarray | None = None


def canonical_centre() -> np.ndarray:
    """The centroid (mm) of the canonical face's 68 iBUG points: the head position ``pose_T`` reports."""
    global _CENTRE
    if _CENTRE is None:
        from mien.models.mesh import ibug68

        _CENTRE = ibug68(canonical_face()).mean(axis=0)
    return _CENTRE


def similarity_3d(model: np.ndarray, target: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares ``target ≈ scale * rotation @ model + translation`` (Umeyama), no reflection."""
    w = weights / weights.sum()
    mu_m, mu_t = w @ model, w @ target
    mc, tc = model - mu_m, target - mu_t
    covariance = (tc * w[:, None]).T @ mc
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / (w @ (mc ** 2).sum(axis=1)))
    return scale, rotation, mu_t - scale * rotation @ mu_m


def ray_rotation(u: float, v: float, camera: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the optical axis to the ray through pixel (u, v)."""
    ray = np.linalg.solve(camera, np.array([u, v, 1.0]))
    ray /= np.linalg.norm(ray)
    axis = np.cross([0.0, 0.0, 1.0], ray)
    sin, cos = float(np.linalg.norm(axis)), float(ray[2])
    if sin < 1e-12:
        return np.eye(3)
    return cv2.Rodrigues(axis / sin * np.arctan2(sin, cos))[0]


def openface_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """OpenFace's ``pose_Rx, pose_Ry, pose_Rz`` (radians, ``R = Rx Ry Rz`` in camera coordinates: x right,
    y down, z forward; Rx > 0 = looking down, Ry > 0 = turned towards the image's left, Rz > 0 = clockwise)."""
    rx = np.arctan2(-rotation[1, 2], rotation[2, 2])
    ry = np.arcsin(np.clip(rotation[0, 2], -1.0, 1.0))
    rz = np.arctan2(-rotation[0, 1], rotation[0, 0])
    return float(rx), float(ry), float(rz)


class MeshPose:
    """One face's fitted pose: ``rotation`` (head -> camera), ``scale`` (image pixels per mm at the face,
    weak perspective), ``translation`` (mm, camera coordinates, of the centroid of the 68 iBUG points of the
    canonical face, as OpenFace's ``pose_T``), the weak-perspective map of step 1 of :func:`fit_mesh_pose`
    (``fit_rotation``, ``scale``, ``offset``: head mm -> image pixels along the viewing ray) and ``ray``, the
    rotation taking the optical axis to the viewing ray (ray frame -> camera frame), and ``camera``, the assumed
    camera matrix (:func:`camera_matrix`)."""

    def __init__(self, rotation: np.ndarray, fit_rotation: np.ndarray, scale: float, offset: np.ndarray,
                 translation: np.ndarray, ray: np.ndarray, camera: np.ndarray):
        self.rotation, self.fit_rotation, self.scale, self.offset, self.translation, self.ray, self.camera = (
            rotation, fit_rotation, scale, offset, translation, ray, camera)

    @property
    def angles(self) -> tuple[float, float, float]:
        """(pitch, yaw, roll) degrees, mien's conventions."""
        return angles_from_rotation(self.rotation)

    def project(self, head_points: np.ndarray) -> np.ndarray:
        """Image (x, y, z) of head-frame points (mm) under the fitted weak perspective."""
        return self.scale * head_points @ self.fit_rotation.T + self.offset


def fit_mesh_pose(points: np.ndarray, width: int, height: int, refine: bool = True) -> MeshPose | None:
    """Rigid pose of one face from its (468, 3) mesh (image x, y in pixels; z relative, same scale).

    1. A similarity (scale, rotation, translation) of the canonical face onto the mesh's rigid points, in
       3-D, re-weighted twice (Tukey's biweight on the residuals) so that a few badly placed points do not
       pull it. This is a weak-perspective fit: the network's crop sees the face along the ray from the
       camera to it, so its rotation is turned by that ray's direction (a frontal face at the image's edge
       is seen a little from the side).
    2. ``refine``: Levenberg-Marquardt on the perspective reprojection of the same points (x, y only, the
       outliers of step 1 left out) with mien's camera guess (:func:`camera_matrix`), from step 1's pose.
       This removes the bias of the weak-perspective model (up to a few degrees of pitch for a face near
       the camera) and does not use the network's least reliable output, z.
    """
    points = np.asarray(points, np.float64)
    if not np.isfinite(points).all():
        return None
    face = canonical_face()
    model = face[list(RIGID_POINTS)]
    target = points[list(RIGID_POINTS)]
    weights = np.ones(len(model))
    for _ in range(3):
        scale, rotation, offset = similarity_3d(model, target, weights)
        residual = np.linalg.norm(target - (scale * model @ rotation.T + offset), axis=1)
        cutoff = 4.685 * max(1.4826 * float(np.median(residual)), 1e-3)
        weights = np.clip(1 - (residual / cutoff) ** 2, 0, None) ** 2 + 1e-9
    if not scale > 0:
        return None
    camera = camera_matrix(width, height)
    focal = camera[0, 0]
    centre = canonical_centre()
    u, v, _ = scale * rotation @ centre + offset
    depth = focal / scale  # mm: a face at distance Z has focal / Z pixels per mm
    translation = np.array([(u - camera[0, 2]) * depth / focal, (v - camera[1, 2]) * depth / focal, depth])
    ray = ray_rotation(u, v, camera)
    camera_rotation = ray @ rotation
    if refine:
        inliers = weights > 0.05
        rvec = cv2.Rodrigues(camera_rotation)[0]
        tvec = (translation - camera_rotation @ centre).reshape(3, 1)
        try:
            rvec, tvec = cv2.solvePnPRefineLM(model[inliers], target[inliers, :2].copy(), camera, None, rvec, tvec)
        except cv2.error:
            rvec = None
        if rvec is not None and np.isfinite(rvec).all() and tvec[2, 0] > 0:
            camera_rotation = cv2.Rodrigues(rvec)[0]
            translation = camera_rotation @ centre + tvec.ravel()
    return MeshPose(camera_rotation, rotation, scale, offset, translation, ray, camera)


def mesh_poses(points: np.ndarray, width: int, height: int) -> tuple[list[MeshPose | None], np.ndarray, np.ndarray]:
    """Fits for (N, 468, 3) meshes: the poses, (N, 3) pitch/yaw/roll degrees and (N, 6) OpenFace
    ``pose_Tx, Ty, Tz`` (mm) and ``pose_Rx, Ry, Rz`` (radians); NaN where a mesh is missing."""
    poses = [fit_mesh_pose(p, width, height) for p in points]
    angles = np.full((len(poses), 3), np.nan, np.float32)
    openface = np.full((len(poses), 6), np.nan, np.float32)
    for i, pose in enumerate(poses):
        if pose is not None:
            angles[i] = pose.angles
            openface[i] = (*pose.translation, *openface_angles(pose.rotation))
    return poses, angles, openface
