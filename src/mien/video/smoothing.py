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
