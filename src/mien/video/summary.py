"""Per-track summary of a video, accumulated in O(tracks) memory while frames stream past."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mien.schema import EXPRESSIONS, SUMMARY_COLUMNS


@dataclass
class _TrackStats:
    first_frame: int
    first_time: float
    last_frame: int = 0
    last_time: float = 0.0
    frames: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(len(EXPRESSIONS)))
    peak: np.ndarray = field(default_factory=lambda: np.zeros(len(EXPRESSIONS)))
    label_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(EXPRESSIONS), np.int64))
    series: array = field(default_factory=lambda: array("f"))  # per frame: time, 8 smoothed probabilities


class TrackSummary:
    """Accumulates, per track: time span, mean and peak probability, and share of frames per expression."""

    def __init__(self, source: str, keep_series: bool = False) -> None:
        self.source = source
        self.keep_series = keep_series  # for timeline plots: 9 float32 = 36 bytes per face per frame
        self.tracks: dict[int, _TrackStats] = {}

    def add(self, track_ids: np.ndarray, frame: int, time: float, probabilities: np.ndarray,
            smoothed: np.ndarray) -> None:
        for track, raw, smooth in zip(np.asarray(track_ids).tolist(), probabilities, smoothed):
            stats = self.tracks.get(track)
            if stats is None:
                stats = self.tracks[track] = _TrackStats(frame, time)
            stats.last_frame, stats.last_time = frame, time
            stats.frames += 1
            stats.total += raw
            stats.peak = np.maximum(stats.peak, raw)
            stats.label_counts[int(np.argmax(smooth))] += 1
            if self.keep_series:
                stats.series.append(time)
                stats.series.extend(float(v) for v in smooth)

    def series(self, track: int) -> np.ndarray:
        """(frames, 1 + 8): timestamp then smoothed probabilities, for a track (needs ``keep_series``)."""
        return np.frombuffer(self.tracks[track].series, np.float32).reshape(-1, 1 + len(EXPRESSIONS))

    def records(self) -> list[dict[str, Any]]:
        rows = []
        for track, stats in sorted(self.tracks.items()):
            mean = stats.total / stats.frames
            row = {"input": self.source, "track_id": track, "first_frame": stats.first_frame,
                   "last_frame": stats.last_frame, "start": stats.first_time, "end": stats.last_time,
                   "duration": stats.last_time - stats.first_time, "frames": stats.frames,
                   "dominant_expression": EXPRESSIONS[int(np.argmax(mean))]}
            row.update({f"mean_{n}": float(v) for n, v in zip(EXPRESSIONS, mean)})
            row.update({f"peak_{n}": float(v) for n, v in zip(EXPRESSIONS, stats.peak)})
            row.update({f"share_{n}": float(c / stats.frames) for n, c in zip(EXPRESSIONS, stats.label_counts)})
            assert list(row) == list(SUMMARY_COLUMNS)
            rows.append(row)
        return rows
