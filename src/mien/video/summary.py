"""Per-track summary of a video, accumulated in O(tracks) memory while frames stream past."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mien.schema import AUS, EXPRESSIONS, SUMMARY_COLUMNS

AFFECT_WIDTH = 2 + len(AUS)  # per frame in the affect series: valence, arousal, then the AU probabilities


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
    affect: array = field(default_factory=lambda: array("f"))  # per frame: valence, arousal, 17 AU probabilities
    # per frame: 17 AU intensities, left empty until the track's first measured one (appearance AU heads
    # measure none, so they cost nothing); from then on one row per frame, earlier frames filled with NaN
    intensity: array = field(default_factory=lambda: array("f"))


class TrackSummary:
    """Accumulates, per track: time span, mean and peak probability, and share of frames per expression."""

    def __init__(self, source: str, keep_series: bool = False) -> None:
        self.source = source
        # for plots: (1 + 8) + (2 + 17) float32 = 112 bytes per face per frame (timeline, then affect series),
        # plus 17 float32 = 68 bytes (180 in all) on the tracks whose AU intensities were measured (aus="mesh")
        self.keep_series = keep_series
        self.tracks: dict[int, _TrackStats] = {}

    def add(self, track_ids: np.ndarray, frame: int, time: float, probabilities: np.ndarray,
            smoothed: np.ndarray, au_probs: np.ndarray | None = None, valence: np.ndarray | None = None,
            arousal: np.ndarray | None = None, au_intensity: np.ndarray | None = None) -> None:
        """One frame's faces. ``au_probs`` (N, 17), ``valence`` and ``arousal`` (N,) and ``au_intensity``
        (N, 17; OpenFace's 0-5 scale, the ``AUxx_r`` columns) are kept in the series only (``keep_series``);
        left out or NaN they are "not measured"."""
        affect = _affect_rows(len(smoothed), au_probs, valence, arousal) if self.keep_series else None
        levels = None
        if self.keep_series and au_intensity is not None:
            levels = np.asarray(au_intensity, np.float32).reshape(len(smoothed), len(AUS))
        for k, (track, raw, smooth) in enumerate(zip(np.asarray(track_ids).tolist(), probabilities, smoothed)):
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
                stats.affect.extend(affect[k].tolist())
                _append_intensity(stats, None if levels is None else levels[k])

    def series(self, track: int) -> np.ndarray:
        """(frames, 1 + 8): timestamp then smoothed probabilities, for a track (needs ``keep_series``)."""
        return _copy(self.tracks[track].series).reshape(-1, 1 + len(EXPRESSIONS))

    def times(self, track: int) -> np.ndarray:
        """(frames,) timestamps in seconds of a track's series (needs ``keep_series``)."""
        return self.series(track)[:, 0]

    def au_series(self, track: int) -> np.ndarray:
        """(frames, 17) AU presence probabilities in [0, 1] (mien.schema.AUS order) of a track, raw (not
        smoothed); NaN where not measured (needs ``keep_series``)."""
        return self._affect(track)[:, 2:]

    def au_intensity_series(self, track: int) -> np.ndarray:
        """(frames, 17) AU intensities on OpenFace's 0-5 scale (mien.schema.AUS order, the ``AUxx_r``
        columns as written, i.e. smoothed with the video's ``smooth``) of a track; NaN where not measured
        (all NaN for models without intensity; needs ``keep_series``)."""
        kept = _copy(self.tracks[track].intensity).reshape(-1, len(AUS))
        if len(kept):
            return kept
        return np.full((len(self.times(track)), len(AUS)), np.nan, np.float32)

    def valence_arousal(self, track: int) -> np.ndarray:
        """(frames, 2) valence and arousal in [-1, 1] of a track, raw; NaN where not measured."""
        return self._affect(track)[:, :2]

    def _affect(self, track: int) -> np.ndarray:
        return _copy(self.tracks[track].affect).reshape(-1, AFFECT_WIDTH)

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


def _append_intensity(stats: _TrackStats, levels: np.ndarray | None) -> None:
    """Add one frame's intensities to a track's series (after its time was appended)."""
    if not stats.intensity:
        if levels is None or not np.isfinite(levels).any():
            return  # nothing measured yet: keep the series empty
        earlier = len(stats.series) // (1 + len(EXPRESSIONS)) - 1
        stats.intensity.extend([np.nan] * (earlier * len(AUS)))
    stats.intensity.extend([np.nan] * len(AUS) if levels is None else levels.tolist())


def _affect_rows(faces: int, au_probs, valence, arousal) -> np.ndarray:
    """(faces, 2 + 17) float32: valence, arousal, AU probabilities; NaN for what was not given."""
    rows = np.full((faces, AFFECT_WIDTH), np.nan, np.float32)
    for columns, values in ((slice(0, 1), valence), (slice(1, 2), arousal), (slice(2, None), au_probs)):
        if values is not None:
            rows[:, columns] = np.asarray(values, np.float32).reshape(faces, -1)
    return rows


def _copy(values: array) -> np.ndarray:
    """A float32 copy of a growing series: a view would stop the next ``add`` from growing it (BufferError)
    for as long as the caller keeps the array."""
    return np.array(values, np.float32)
