"""Saving the figures :mod:`mien.viz` draws as PNG files (atomically), under the names ``mien video --plots``,
``mien evaluate --confusion`` and ``mien micro spot --plot-dir`` use.

``mien.viz`` returns matplotlib figures (``mien.viz.timeline.figure_to_array`` turns one into an RGB array);
these functions keep the 0.1 signatures (``plot_*(..., path, ...) -> Path``) and write the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mien.viz.affect import circumplex_figure, track_figures
from mien.viz.au import PROBABILITY, AuScale, au_face_figure, au_heatmap_figure, track_au_series_figure
from mien.viz.confusion import confusion_figure
from mien.viz.micro import spotting_figure
from mien.viz.timeline import track_timeline_figures


def write_png(figure, path: str | Path) -> Path:
    """Save ``figure`` as a PNG at ``path`` atomically (a new exclusive temporary file beside it, never
    through a link, then renamed; see :func:`mien.io.writers.write_atomic`); returns the path."""
    import io

    from mien.io.writers import write_atomic

    path = Path(path)
    encoded = io.BytesIO()
    figure.savefig(encoded, format="png")
    write_atomic(path, encoded.getvalue())
    return path


def plot_au_face(probabilities, path: str | Path, title: str | None = None, thresholds=None,
                 scale: AuScale | str = PROBABILITY) -> Path:
    """:func:`mien.viz.au.au_face_figure` saved at ``path``."""
    return write_png(au_face_figure(probabilities, title, thresholds, scale), path)


def plot_au_heatmap(matrix, row_labels: Sequence[str], path: str | Path, title: str | None = None,
                    scale: AuScale | str = PROBABILITY) -> Path:
    """:func:`mien.viz.au.au_heatmap_figure` saved at ``path``."""
    return write_png(au_heatmap_figure(matrix, row_labels, title, scale), path)


def plot_track_au_series(summary, track: int, path: str | Path, aus: Sequence[int] | None = None, thresholds=None,
                         title: str | None = None, smooth: float = 0.0, scale: AuScale | str = PROBABILITY) -> Path:
    """:func:`mien.viz.au.track_au_series_figure` saved at ``path``."""
    return write_png(track_au_series_figure(summary, track, aus, thresholds, title, smooth, scale), path)


def plot_circumplex(valence, arousal, path: str | Path, times=None, title: str | None = None) -> Path:
    """:func:`mien.viz.affect.circumplex_figure` saved at ``path``."""
    return write_png(circumplex_figure(valence, arousal, times, title), path)


def plot_confusion(matrix, class_names: list[str], path: str | Path, title: str = "") -> Path:
    """:func:`mien.viz.confusion.confusion_figure` saved at ``path``."""
    return write_png(confusion_figure(matrix, class_names, title), path)


def plot_spotting(result, path: str | Path, title: str | None = None) -> Path:
    """:func:`mien.viz.micro.spotting_figure` saved at ``path``."""
    return write_png(spotting_figure(result, title), path)


def plot_track_timelines(summary, folder: str | Path, stem: str | None = None, min_frames: int = 2) -> list[Path]:
    """Write ``<stem>_track<id>.png`` per track with at least ``min_frames`` frames; returns the paths."""
    folder, stem = Path(folder), stem or Path(summary.source).stem
    return [write_png(figure, folder / f"{stem}_track{track}.png")
            for track, figure in track_timeline_figures(summary, min_frames).items()]


def plot_track_figures(summary, folder: str | Path, stem: str | None = None, thresholds=None,
                       min_frames: int = 2) -> list[Path]:
    """Per track with at least ``min_frames`` frames, write ``<stem>_track<id>_circumplex.png`` and, when its
    AUs were measured, ``<stem>_track<id>_au.png`` (AU time series) and ``<stem>_track<id>_au_face.png``
    (mean AU map); with two or more such tracks also ``<stem>_au_tracks.png`` (AU x track heat map). AU
    figures show intensity (0-5) where it was measured (``aus="mesh"``), else probabilities.
    Needs a summary built with ``keep_series=True``. Returns the paths written."""
    folder, stem = Path(folder), stem or Path(summary.source).stem
    return [write_png(figure, folder / f"{stem}_{name}.png")
            for name, figure in track_figures(summary, thresholds, min_frames).items()]
