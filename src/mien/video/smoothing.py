"""Temporal smoothing of per-track probabilities (exponential, with the time constant in seconds)."""

from __future__ import annotations

import numpy as np


class ExponentialSmoother:
    """Per-track exponential moving average that respects real time (variable frame rates, gaps).

    The weight of a new value is ``1 - exp(-dt / tau)``: with ``tau`` = 0.3 s a sudden change is 63%
    through after 0.3 s, whatever the frame rate. ``tau = 0`` returns the raw values. The result of each
    frame is renormalised to sum to 1.
    """

    def __init__(self, tau: float = 0.3) -> None:
        if tau < 0:
            raise ValueError(f"tau must be >= 0 seconds, got {tau}")
        self.tau = tau
        self.state: dict[int, tuple[float, np.ndarray]] = {}  # track -> (time, smoothed values)

    def seed(self, track_id: int, time: float, values: np.ndarray) -> None:
        """Start ``track_id`` from smoothed ``values`` (C,) last seen at ``time`` seconds (resuming)."""
        self.state[int(track_id)] = (float(time), np.array(values, np.float32).reshape(-1))

    def update(self, track_ids: np.ndarray, time: float, values: np.ndarray) -> np.ndarray:
        """Smoothed ``values`` (N, C) for the faces ``track_ids`` (N,) seen at ``time`` seconds."""
        out = np.array(values, dtype=np.float32, copy=True)
        for row, track in enumerate(np.asarray(track_ids).tolist()):
            previous = self.state.get(track)
            if previous is not None and self.tau > 0:
                elapsed = max(0.0, time - previous[0])
                weight = 1.0 - np.exp(-elapsed / self.tau)
                out[row] = weight * out[row] + (1.0 - weight) * previous[1]
                out[row] /= max(out[row].sum(), 1e-12)
            self.state[track] = (time, out[row].copy())
        return out

    def forget(self, live_tracks: set[int]) -> None:
        """Drop the state of tracks that ended (keeps memory flat on long videos)."""
        self.state = {k: v for k, v in self.state.items() if k in live_tracks}


class SignalSmoother:
    """The same time-constant smoothing for unbounded per-face signals (AU probabilities and intensities,
    head pose, gaze): no renormalisation, and NaN-aware (a value not measured this frame stays NaN and leaves
    the state alone; the first measured value starts it)."""

    def __init__(self, tau: float = 0.3) -> None:
        if tau < 0:
            raise ValueError(f"tau must be >= 0 seconds, got {tau}")
        self.tau = tau
        self.state: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # track -> (time of each value, values)

    def update(self, track_ids: np.ndarray, time: float, values: np.ndarray) -> np.ndarray:
        """Smoothed ``values`` (N, C) for the faces ``track_ids`` (N,) seen at ``time`` seconds."""
        out = np.array(values, dtype=np.float64, copy=True)
        for row, track in enumerate(np.asarray(track_ids).tolist()):
            measured = np.isfinite(out[row])
            previous = self.state.get(track)
            if previous is None or previous[1].shape != out[row].shape:
                times, state = np.full(out.shape[1], time, np.float64), np.full(out.shape[1], np.nan)
            else:
                times, state = previous[0].copy(), previous[1].copy()
            if self.tau > 0:
                known = measured & np.isfinite(state)
                weight = 1.0 - np.exp(-np.maximum(0.0, time - times[known]) / self.tau)
                out[row, known] = weight * out[row, known] + (1.0 - weight) * state[known]
            state[measured], times[measured] = out[row, measured], time
            self.state[track] = (times, state)
        return out

    def forget(self, live_tracks: set[int]) -> None:
        self.state = {k: v for k, v in self.state.items() if k in live_tracks}


def smooth_face_signals(smoother: SignalSmoother, result, track_ids: np.ndarray, time: float) -> None:
    """Smooth a video frame's AU probabilities (and ``AUxx_r``), head pose and the mesh pose/gaze columns of
    ``result`` in place, per track; gaze vectors stay unit vectors and the gaze angles follow them."""
    from mien.schema import AU_INTENSITY_COLUMNS, GAZE_COLUMNS, MESH_POSE_COLUMNS

    if not len(result):
        return
    extra = [c for c in (*AU_INTENSITY_COLUMNS, *MESH_POSE_COLUMNS, *GAZE_COLUMNS[:6]) if c in result.data]
    blocks = [result.au_probs, result.head_pose] + [np.asarray(result.data[c], np.float64)[:, None] for c in extra]
    smoothed = smoother.update(track_ids, time, np.hstack([np.asarray(b, np.float64) for b in blocks]))
    k = result.au_probs.shape[1]
    result.au_probs = smoothed[:, :k].astype(np.float32)
    result.head_pose = smoothed[:, k:k + 3].astype(np.float32)
    for i, column in enumerate(extra):
        result.data[column] = smoothed[:, k + 3 + i].astype(np.float32)
    if "gaze_0_x" in result.data:
        eyes = []
        for eye in (0, 1):
            vector = np.stack([result.data[f"gaze_{eye}_{a}"] for a in "xyz"], axis=1).astype(np.float64)
            vector /= np.maximum(np.linalg.norm(vector, axis=1, keepdims=True), 1e-12)
            for j, a in enumerate("xyz"):
                result.data[f"gaze_{eye}_{a}"] = vector[:, j].astype(np.float32)
            eyes.append(vector)
        mean = (eyes[0] + eyes[1]) / 2
        result.data["gaze_angle_x"] = np.arctan2(mean[:, 0], -mean[:, 2]).astype(np.float32)
        result.data["gaze_angle_y"] = np.arctan2(mean[:, 1], -mean[:, 2]).astype(np.float32)
