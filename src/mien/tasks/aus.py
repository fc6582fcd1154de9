"""Action units from the dense face mesh: geometry in a pose-free head frame, a person's neutral, a small model.

Stages (each a pure function, numpy only):

1. :func:`head_frame`: the 468 mesh points with the rigid head pose removed (the weak-perspective rigid fit
   of :func:`mien.tasks.pose.fit_mesh_pose`, inverted): millimetres of MediaPipe's canonical face, x towards
   the image's right, y down, z away from the camera. Face size and head rotation are gone.
2. :func:`geometric_features`: named distances between mesh points in that frame (:data:`FEATURES`), each
   the mean of the face's two sides where it has two, in millimetres of the canonical face.
3. A person's neutral (video: :class:`NeutralBaseline`): the features minus the person's own neutral plus
   the population neutral, so that a face whose brows sit low by nature is not read as AU4.
4. :class:`MeshAuModel`: one logistic regression per AU on standardised features (fitted by
   :mod:`mien.train.au_mesh`), thresholds chosen on validation folds, and an intensity on OpenFace's 0-5
   scale from the AU's geometric displacement (see :meth:`MeshAuModel.intensity`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AU_MESH_METHOD = "mesh-geometry-logistic-v1"
WEIGHTS_FILE = Path(__file__).resolve().parents[1] / "models" / "weights" / "au-mesh.json"


def head_frame(points: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """(468, 3) image-space mesh points -> (468, 3) points in the canonical face's frame (mm), or None."""
    from mien.tasks.pose import fit_mesh_pose

    pose = fit_mesh_pose(points, width, height, refine=False)
    if pose is None:
        return None
    return head_points(points, pose)


def head_points(points: np.ndarray, pose) -> np.ndarray:
    """Inverse of ``pose.project``: image (x, y, z) -> head-frame millimetres."""
    return ((np.asarray(points, np.float64) - pose.offset) / pose.scale) @ pose.fit_rotation


# ----------------------------------------------------------------------------------------------- features
# Mesh points (MediaPipe numbering) as (image-left, image-right) pairs, or one point on the midline.
EYE_OUTER, EYE_INNER = (33, 263), (133, 362)
UPPER_LID, LOWER_LID = (159, 386), (145, 374)
UPPER_LID_SIDES, LOWER_LID_SIDES = ((158, 385), (160, 387)), ((153, 380), (144, 373))
BROW_INNER, BROW_INNER_LOW = (107, 336), (55, 285)
BROW_MID, BROW_MID_LOW = (105, 334), (65, 295)
BROW_OUTER, BROW_OUTER_LOW = (70, 300), (46, 276)
CHEEK_HIGH, CHEEK_MID, CHEEK_LOW = (117, 346), (50, 280), (205, 425)
NOSE_WING, NOSTRIL = (129, 358), (98, 327)
MOUTH_CORNER, MOUTH_INNER_CORNER = (61, 291), (78, 308)
UPPER_LIP_PEAK, LOWER_LIP_SIDE = (37, 267), (84, 314)
JAW_SIDE = (172, 397)
UPPER_LIP_TOP, UPPER_LIP_INNER, LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 0, 13, 14, 17
SUBNASALE, NOSE_TIP, NOSE_BRIDGE, CHIN = 2, 4, 6, 152


def _pair(points: np.ndarray, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return points[..., pair[0], :], points[..., pair[1], :]


def _mean_y(points: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """Mean height (y, mm, down positive) of a symmetric pair."""
    return (points[..., pair[0], 1] + points[..., pair[1], 1]) / 2


def _half_width(points: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    return (points[..., pair[1], 0] - points[..., pair[0], 0]) / 2


# name -> (what it measures, the AUs it encodes). Every feature is in millimetres of the canonical face
# (or a ratio) and, where the face has two sides, the mean of both sides. Heights: y grows downwards, so
# "a above b" = y_b - y_a > 0.
FEATURES: dict[str, tuple[str, tuple[int, ...]]] = {
    "inner_brow_raise": ("inner brow end above the inner eye corners", (1, 4)),
    "inner_brow_low_raise": ("lower edge of the inner brow above the inner eye corners", (1, 4)),
    "mid_brow_raise": ("middle of the brow above the eye corners' line", (1, 2, 4)),
    "outer_brow_raise": ("outer brow end above the outer eye corners", (2,)),
    "brow_gap": ("half the horizontal gap between the two inner brow ends", (4,)),
    "brow_to_lid": ("middle of the brow above the upper lid", (1, 2, 4, 5)),
    "upper_lid_raise": ("upper lid above the eye corners' line", (5, 7, 43, 45)),
    "lower_lid_raise": ("lower lid above its resting place below the eye corners (negative = lower)", (6, 7)),
    "eye_opening": ("lid gap (upper to lower lid) over the eye width", (5, 7, 43, 45)),
    "eye_width": ("half the distance between the eye corners of one eye", (6, 7)),
    "cheek_raise": ("cheek point below the eye (mesh 117/346) above the nose wings' line", (6,)),
    "cheek_mid_raise": ("mid-cheek (50/280) above the nose wings' line", (6, 12)),
    "cheek_low_raise": ("lower cheek (205/425) above the nose wings' line", (6, 12)),
    "nose_wing_raise": ("nose wing (129/358) below the eye corners' line (smaller = raised)", (9, 10)),
    "nostril_raise": ("nostril (98/327) below the inner eye corners (smaller = raised)", (9, 10)),
    "upper_lip_raise": ("upper lip (0) below the subnasale (2) (smaller = raised)", (9, 10)),
    "lip_peak_raise": ("upper lip peaks (37/267) below the subnasale", (10, 12)),
    "corner_raise": ("mouth corners above the midpoint of the outer lips (0, 17)", (12, 15)),
    "corner_height": ("mouth corners below the subnasale (smaller = pulled up)", (12, 15, 20)),
    "corner_width": ("half the mouth width (corner to corner)", (12, 14, 20, 23, 24)),
    "corner_depth": ("mouth corners behind the upper lip's centre (z)", (12, 14)),
    "corner_to_nostril": ("distance from mouth corner to nostril (nasolabial length)", (9, 10, 12)),
    "corner_angle": ("angle (radians) of the line from the lip centre to the corners, > 0 = corners up", (12, 15)),
    "inner_corner_width": ("half the width of the inner lip line", (12, 20, 23, 25)),
    "lips_apart": ("gap between the inner lips (13 to 14)", (25, 26, 27)),
    "mouth_open": ("outer lips' height (0 to 17)", (25, 26, 27)),
    "upper_lip_thickness": ("upper red lip height (0 to 13)", (23, 24, 28)),
    "lower_lip_thickness": ("lower red lip height (14 to 17)", (17, 23, 24, 28)),
    "lower_lip_drop": ("lower lip (17) below the subnasale", (17, 25, 26)),
    "lower_lip_forward": ("lower lip (17) in front of the chin (z)", (17, 24)),
    "chin_lip_gap": ("chin (152) below the lower lip (17)", (17, 26)),
    "jaw_drop": ("chin (152) below the subnasale", (26, 27)),
    "jaw_width": ("half the width at the jaw angle (172/397)", (26, 27)),
    "lower_lip_curve": ("lower lip sides (84/314) above the lower lip centre", (15, 17)),
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)


def geometric_features(points: np.ndarray) -> np.ndarray:
    """(..., 468, 3) head-frame points (:func:`head_frame`) -> (..., len(FEATURE_NAMES)) features."""
    p = np.asarray(points, np.float64)
    y = p[..., 1]
    eye_line = (_mean_y(p, EYE_OUTER) + _mean_y(p, EYE_INNER)) / 2
    eye_width = _half_width(p, EYE_OUTER) - _half_width(p, EYE_INNER)  # one eye's width
    lid_gap = _mean_y(p, LOWER_LID) - _mean_y(p, UPPER_LID)
    wings = _mean_y(p, NOSE_WING)
    lip_centre = (y[..., UPPER_LIP_TOP] + y[..., LOWER_LIP_BOTTOM]) / 2
    corner_y = _mean_y(p, MOUTH_CORNER)
    left, right = _pair(p, MOUTH_CORNER)
    nl, nr = _pair(p, NOSTRIL)
    corner_to_nostril = (np.linalg.norm(left - nl, axis=-1) + np.linalg.norm(right - nr, axis=-1)) / 2
    half_mouth = _half_width(p, MOUTH_CORNER)
    values = {
        "inner_brow_raise": _mean_y(p, EYE_INNER) - _mean_y(p, BROW_INNER),
        "inner_brow_low_raise": _mean_y(p, EYE_INNER) - _mean_y(p, BROW_INNER_LOW),
        "mid_brow_raise": eye_line - (_mean_y(p, BROW_MID) + _mean_y(p, BROW_MID_LOW)) / 2,
        "outer_brow_raise": _mean_y(p, EYE_OUTER) - (_mean_y(p, BROW_OUTER) + _mean_y(p, BROW_OUTER_LOW)) / 2,
        "brow_gap": _half_width(p, BROW_INNER_LOW),
        "brow_to_lid": _mean_y(p, UPPER_LID) - _mean_y(p, BROW_MID_LOW),
        "upper_lid_raise": eye_line - (_mean_y(p, UPPER_LID) + sum(_mean_y(p, s) for s in UPPER_LID_SIDES)) / 3,
        "lower_lid_raise": eye_line - (_mean_y(p, LOWER_LID) + sum(_mean_y(p, s) for s in LOWER_LID_SIDES)) / 3,
        "eye_opening": lid_gap / np.maximum(2 * eye_width, 1e-6),
        "eye_width": eye_width,
        "cheek_raise": wings - _mean_y(p, CHEEK_HIGH),
        "cheek_mid_raise": wings - _mean_y(p, CHEEK_MID),
        "cheek_low_raise": wings - _mean_y(p, CHEEK_LOW),
        "nose_wing_raise": wings - eye_line,
        "nostril_raise": _mean_y(p, NOSTRIL) - _mean_y(p, EYE_INNER),
        "upper_lip_raise": y[..., UPPER_LIP_TOP] - y[..., SUBNASALE],
        "lip_peak_raise": _mean_y(p, UPPER_LIP_PEAK) - y[..., SUBNASALE],
        "corner_raise": lip_centre - corner_y,
        "corner_height": corner_y - y[..., SUBNASALE],
        "corner_width": half_mouth,
        "corner_depth": (left[..., 2] + right[..., 2]) / 2 - p[..., UPPER_LIP_TOP, 2],
        "corner_to_nostril": corner_to_nostril,
        "corner_angle": np.arctan2(lip_centre - corner_y, np.maximum(half_mouth, 1e-6)),
        "inner_corner_width": _half_width(p, MOUTH_INNER_CORNER),
        "lips_apart": y[..., LOWER_LIP_INNER] - y[..., UPPER_LIP_INNER],
        "mouth_open": y[..., LOWER_LIP_BOTTOM] - y[..., UPPER_LIP_TOP],
        "upper_lip_thickness": y[..., UPPER_LIP_INNER] - y[..., UPPER_LIP_TOP],
        "lower_lip_thickness": y[..., LOWER_LIP_BOTTOM] - y[..., LOWER_LIP_INNER],
        "lower_lip_drop": y[..., LOWER_LIP_BOTTOM] - y[..., SUBNASALE],
        "lower_lip_forward": p[..., CHIN, 2] - p[..., LOWER_LIP_BOTTOM, 2],
        "chin_lip_gap": y[..., CHIN] - y[..., LOWER_LIP_BOTTOM],
        "jaw_drop": y[..., CHIN] - y[..., SUBNASALE],
        "jaw_width": _half_width(p, JAW_SIDE),
        "lower_lip_curve": y[..., LOWER_LIP_BOTTOM] - _mean_y(p, LOWER_LIP_SIDE),
    }
    return np.stack([values[name] for name in FEATURE_NAMES], axis=-1)


def mesh_au_features(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 468, 3) image-space meshes of one image -> (N, len(FEATURE_NAMES)) float32 features (NaN rows
    where a mesh is missing)."""
    out = np.full((len(points), len(FEATURE_NAMES)), np.nan, np.float32)
    for i, face in enumerate(points):
        head = head_frame(face, width, height) if np.isfinite(face).all() else None
        if head is not None:
            out[i] = geometric_features(head)
    return out


# ----------------------------------------------------------------------------------------------- the model
@dataclass
class MeshAuModel:
    """Per AU a logistic regression on standardised geometric features (``weights_file`` JSON, written by
    :mod:`mien.train.au_mesh`).

    - probability ``AUxx_p = sigmoid(w . (x - mean) / std + b)`` (moderate L2, so it does not saturate);
    - presence ``AUxx_c``: ``AUxx_p`` >= the AU's threshold, chosen on validation folds of the training data;
    - intensity ``AUxx_r`` (:meth:`intensity`): the same linear score, rescaled so that the median neutral
      training face reads 0 and the median CK+ peak frame coded with that AU reads ``peak_level`` (3, FACS
      intensity C, "marked"), clipped to OpenFace's 0-5 range. It is a geometric displacement along the AU's
      direction, not a FACS-coded intensity: no intensity labels exist in the training data.
    """

    aus: tuple[int, ...]
    features: tuple[str, ...]
    mean: np.ndarray       # (D,)
    std: np.ndarray        # (D,)
    weights: np.ndarray    # (K, D)
    bias: np.ndarray       # (K,)
    thresholds: np.ndarray  # (K,)
    neutral_score: np.ndarray  # (K,) median linear score of the neutral training faces
    peak_score: np.ndarray     # (K,) median linear score of CK+ peak frames with the AU
    neutral_features: np.ndarray  # (D,) population neutral (mean of the neutral training faces)
    neutral_spread: np.ndarray    # (D,) its standard deviation across people
    peak_level: float = 3.0
    info: dict | None = None

    @classmethod
    def load(cls, path: str | Path = WEIGHTS_FILE) -> "MeshAuModel":
        spec = json.loads(Path(path).read_text())
        if spec.get("method") != AU_MESH_METHOD:
            raise ValueError(f"{path}: not a {AU_MESH_METHOD} model (method {spec.get('method')!r})")
        if tuple(spec["features"]) != FEATURE_NAMES:
            raise ValueError(f"{path}: its features {spec['features']} are not this mien's {FEATURE_NAMES}")
        array = lambda key: np.asarray(spec[key], np.float64)  # noqa: E731
        return cls(tuple(spec["aus"]), tuple(spec["features"]), array("mean"), array("std"), array("weights"),
                   array("bias"), array("thresholds"), array("neutral_score"), array("peak_score"),
                   array("neutral_features"), array("neutral_spread"), float(spec["peak_level"]), spec.get("info"))

    def to_json(self) -> dict:
        plain = lambda a: np.round(np.asarray(a, np.float64), 6).tolist()  # noqa: E731
        return {"method": AU_MESH_METHOD, "aus": list(self.aus), "features": list(self.features),
                "mean": plain(self.mean), "std": plain(self.std), "weights": plain(self.weights),
                "bias": plain(self.bias), "thresholds": plain(self.thresholds),
                "neutral_score": plain(self.neutral_score), "peak_score": plain(self.peak_score),
                "neutral_features": plain(self.neutral_features), "neutral_spread": plain(self.neutral_spread),
                "peak_level": self.peak_level, "info": self.info or {}}

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, K) linear scores (logits)."""
        return ((np.asarray(features, np.float64) - self.mean) / self.std) @ self.weights.T + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-self.scores(features)))).astype(np.float32)

    def intensity(self, features: np.ndarray) -> np.ndarray:
        """(N, K) intensities on OpenFace's 0-5 scale (see the class docstring)."""
        span = np.maximum(self.peak_score - self.neutral_score, 1e-6)
        level = self.peak_level * (self.scores(features) - self.neutral_score) / span
        return np.clip(level, 0.0, 5.0).astype(np.float32)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, intensities), each (N, K) float32; NaN rows for NaN features."""
        features = np.asarray(features, np.float64)
        return self.probabilities(features), self.intensity(features)


_MODEL: MeshAuModel | None = None


def shipped_model() -> MeshAuModel:
    """The shipped model (``models/weights/au-mesh.json``), loaded once."""
    global _MODEL
    if _MODEL is None:
        _MODEL = MeshAuModel.load(WEIGHTS_FILE)
    return _MODEL


# ----------------------------------------------------------------------------------------------- a person's neutral
class NeutralBaseline:
    """A running neutral per video track (person-specific normalisation, as OpenFace 2 does for AUs).

    Each track keeps the geometric features of its frames that the expression network calls neutral (its
    top class; an appearance judgement, independent of the geometry being corrected), at most ``keep`` of
    them (the most recent). The person's neutral is their per-feature median; the features given to the AU
    model are then ``x - shift`` with ``shift = w * clip(median - population neutral, +-limit spreads)``, where
    ``w = n / (n + warmup)`` grows with the ``n`` neutral frames seen so far (no correction before the first
    one). A face whose brows sit low by nature then reads like an average face at rest, not as AU4.
    """

    def __init__(self, neutral: np.ndarray, spread: np.ndarray, keep: int = 300, warmup: int = 3,
                 limit: float = 2.0) -> None:
        self.neutral, self.spread = np.asarray(neutral, np.float64), np.asarray(spread, np.float64)
        self.keep, self.warmup, self.limit = keep, warmup, limit
        self.history: dict[int, list[np.ndarray]] = {}

    def shift(self, track: int) -> np.ndarray:
        """The correction subtracted from a track's features now."""
        seen = self.history.get(track)
        if not seen:
            return np.zeros_like(self.neutral)
        offset = np.median(np.stack(seen), axis=0) - self.neutral
        offset = np.clip(offset, -self.limit * self.spread, self.limit * self.spread)
        return offset * (len(seen) / (len(seen) + self.warmup))

    def update(self, track_ids: np.ndarray, features: np.ndarray, neutral: np.ndarray) -> np.ndarray:
        """Add the frames flagged ``neutral`` to their tracks' history; returns the corrected features."""
        features = np.asarray(features, np.float64)
        out = features.copy()
        for row, track in enumerate(np.asarray(track_ids).tolist()):
            if track < 0 or not np.isfinite(features[row]).all():
                continue
            if neutral[row]:
                seen = self.history.setdefault(track, [])
                seen.append(features[row])
                del seen[:-self.keep]
            out[row] = features[row] - self.shift(track)
        return out

    def forget(self, live_tracks: set[int]) -> None:
        self.history = {k: v for k, v in self.history.items() if k in live_tracks}
