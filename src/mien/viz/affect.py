"""Valence/arousal on Russell's circumplex, and the per-track affect figures ``mien video --plots`` writes.

Valence and arousal are in [-1, 1] (see :mod:`mien.tasks.valence`: a projection of the expression
probabilities, not a measurement). NaN samples are left out; when none is left the plot raises a
``ValueError``. Needs matplotlib (``pip install 'mien[plots]'``); Agg canvas, atomic PNG writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mien.video.summary import TrackSummary
from mien.viz.au import (INTENSITY, PROBABILITY, AuScale, agg_figure, au_face_figure, au_heatmap_figure,
                         mean_probabilities, track_au_series_figure)
from mien.viz.timeline import check_plotting

AU_LINE_SMOOTHING = 0.5  # seconds: frame-wise AU values flicker; the heat strip above the lines stays as kept

# Russell (1980), J. Pers. Soc. Psychol. 39:1161: the eight anchor words and their angles in degrees.
RUSSELL_ANCHORS: dict[str, float] = {
    "pleasure": 0, "excitement": 45, "arousal": 90, "distress": 135,
    "displeasure": 180, "depression": 225, "sleepiness": 270, "relaxation": 315,
}


def circumplex_figure(valence, arousal, times=None, title: str | None = None):
    """A figure: the (valence, arousal) trajectory inside the unit circle, points coloured by time (with
    a colour bar), start and end marked, Russell's anchor words at their angles.

    ``valence``, ``arousal``: same-length sequences in [-1, 1]; ``times``: seconds per sample (default: the
    sample index). NaN samples are skipped; raises ValueError when the lengths differ or nothing is left."""
    check_plotting()
    valence, arousal, times, unit = _finite_samples(valence, arousal, times)
    figure, (axis,) = agg_figure((8.2, 6.2), 1, 1)
    _draw_circumplex_frame(axis)
    if len(valence) > 1:
        axis.plot(valence, arousal, color="0.6", linewidth=0.8, zorder=2)
    points = axis.scatter(valence, arousal, c=times, cmap="viridis", s=22, zorder=3, edgecolors="none")
    axis.plot(valence[0], arousal[0], marker="o", markersize=11, markerfacecolor="none", markeredgecolor="#1a9641",
              markeredgewidth=2.2, linestyle="none", zorder=4, label="start")
    axis.plot(valence[-1], arousal[-1], marker="s", markersize=11, markerfacecolor="none", markeredgecolor="#d7191c",
              markeredgewidth=2.2, linestyle="none", zorder=4, label="end")
    axis.legend(loc="lower left", fontsize=8, frameon=False, borderaxespad=0)
    figure.colorbar(points, ax=axis, fraction=0.04, pad=0.02, shrink=0.8, label=unit)
    axis.set_title(title or f"Valence and arousal ({len(valence)} samples)")
    figure.tight_layout()
    return figure


def track_figures(summary: TrackSummary, thresholds=None, min_frames: int = 2) -> dict[str, object]:
    """Per track with at least ``min_frames`` frames, the figures ``track<id>_circumplex`` and, when its
    AUs were measured, ``track<id>_au`` (AU time series) and ``track<id>_au_face`` (mean AU map); with two
    or more such tracks also ``au_tracks`` (AU x track heat map). The AU figures show intensity (0-5,
    OpenFace's ``AUxx_r``) when the track has any (``aus="mesh"``), else presence probabilities with their
    ``thresholds``; the heat map shows intensity when any track has it (tracks without: "n/a"). Needs a
    summary built with ``keep_series=True``. Returns name -> figure (:mod:`mien.workflows.plots` saves
    them as ``<stem>_<name>.png``)."""
    name = Path(summary.source).name
    figures: dict[str, object] = {}
    means: dict[int, tuple[AuScale, np.ndarray]] = {}
    for track in sorted(summary.tracks):
        times = summary.times(track)
        if len(times) < min_frames:
            continue
        va = summary.valence_arousal(track)
        if np.isfinite(va).all(axis=1).any():
            figures[f"track{track}_circumplex"] = circumplex_figure(
                va[:, 0], va[:, 1], times=times, title=f"{name}, track {track}: valence and arousal")
        scale, aus = track_au_values(summary, track)
        if not np.isfinite(aus).any():
            continue  # the model has no AU head
        means[track] = scale, mean_probabilities(aus.astype(np.float64), scale)
        figures[f"track{track}_au"] = track_au_series_figure(summary, track, thresholds=thresholds,
                                                             smooth=AU_LINE_SMOOTHING, scale=scale)
        figures[f"track{track}_au_face"] = au_face_figure(aus, title=f"{name}, track {track}", thresholds=thresholds,
                                                          scale=scale)
    if len(means) >= 2:
        scale = INTENSITY if any(s is INTENSITY for s, _ in means.values()) else PROBABILITY
        rows = [mean if s is scale else np.full_like(mean, np.nan) for s, mean in means.values()]
        figures["au_tracks"] = au_heatmap_figure(np.stack(rows), [f"track {t}" for t in means],
                                                 title=f"{name}: mean AU {scale.name} per track", scale=scale)
    return figures


def track_au_values(summary: TrackSummary, track: int) -> tuple[AuScale, np.ndarray]:
    """A track's AU series to draw: ``(INTENSITY, (frames, 17) intensities 0-5)`` when any was measured,
    else ``(PROBABILITY, (frames, 17) probabilities 0-1)`` (all NaN when neither was)."""
    intensity = summary.au_intensity_series(track)
    if np.isfinite(intensity).any():
        return INTENSITY, intensity
    return PROBABILITY, summary.au_series(track)


def _finite_samples(valence, arousal, times):
    valence = np.asarray(valence, np.float64).ravel()
    arousal = np.asarray(arousal, np.float64).ravel()
    unit = "time (s)" if times is not None else "sample"
    times = np.arange(len(valence), dtype=np.float64) if times is None else np.asarray(times, np.float64).ravel()
    if not len(valence) == len(arousal) == len(times):
        raise ValueError(f"valence, arousal and times differ in length: {len(valence)}, {len(arousal)}, {len(times)}")
    keep = np.isfinite(valence) & np.isfinite(arousal) & np.isfinite(times)
    if not keep.any():
        raise ValueError("valence/arousal not measured: no sample with finite valence and arousal")
    return valence[keep], arousal[keep], times[keep], unit


def _draw_circumplex_frame(axis) -> None:
    from matplotlib.patches import Circle

    axis.add_patch(Circle((0, 0), 1, facecolor="#fafafa", edgecolor="0.3", linewidth=1.4, zorder=0))
    axis.add_patch(Circle((0, 0), 0.5, facecolor="none", edgecolor="0.8", linewidth=0.8, linestyle=":"))
    axis.plot([-1, 1], [0, 0], color="0.55", linewidth=0.8, zorder=1)
    axis.plot([0, 0], [-1, 1], color="0.55", linewidth=0.8, zorder=1)
    for word, degrees in RUSSELL_ANCHORS.items():
        angle = np.radians(degrees)
        x, y = np.cos(angle), np.sin(angle)
        axis.plot(x, y, marker="o", markersize=3.5, color="0.3", zorder=2)
        side = "left" if x > 0.3 else "right" if x < -0.3 else "center"
        axis.text(1.08 * x, 1.07 * y, word, ha=side, va="center", fontsize=9, style="italic", color="0.2")
    axis.set_xlim(-1.62, 1.62)
    axis.set_ylim(-1.32, 1.32)
    axis.set_aspect("equal")
    axis.set_xticks([-1, -0.5, 0, 0.5, 1])
    axis.set_yticks([-1, -0.5, 0, 0.5, 1])
    axis.tick_params(labelsize=8)
    axis.set_xlabel("valence: unpleasant (-1) to pleasant (+1)")
    axis.set_ylabel("arousal: deactivated (-1) to activated (+1)")
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)
