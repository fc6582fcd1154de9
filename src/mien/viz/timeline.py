"""Timeline plots: the smoothed probability of each expression over time, one PNG per track.

Needs matplotlib (``pip install 'mien[plots]'``). Figures are drawn with matplotlib's object API on an
Agg canvas, so the caller's pyplot backend (e.g. in Jupyter) is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mien.schema import EXPRESSIONS
from mien.video.summary import TrackSummary
from mien.viz.draw import EXPRESSION_COLOURS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def check_plotting() -> None:
    """Raise a clear ImportError when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("timeline plots need matplotlib: pip install 'mien[plots]'") from error


def figure_to_array(figure) -> np.ndarray:
    """The figure rendered to an RGB uint8 array (H, W, 3), for users who compose images themselves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def track_timeline_figures(summary: TrackSummary, min_frames: int = 2) -> dict[int, "Figure"]:
    """A figure of the smoothed expression probabilities over time per track with at least ``min_frames``
    frames (track id -> figure; saved as ``<stem>_track<id>.png`` by :mod:`mien.workflows.plots`)."""
    check_plotting()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figures = {}
    for track, stats in sorted(summary.tracks.items()):
        series = summary.series(track)
        if len(series) < min_frames:
            continue
        figure = Figure(figsize=(10, 3.2), dpi=100)
        FigureCanvasAgg(figure)
        axis = figure.add_subplot()
        for column, name in enumerate(EXPRESSIONS, start=1):
            colour = [c / 255 for c in EXPRESSION_COLOURS[name]]
            axis.plot(series[:, 0], series[:, column], label=name, color=colour, linewidth=1.6)
        axis.set_xlabel("time (s)")
        axis.set_ylabel("probability (smoothed)")
        axis.set_ylim(0, 1)
        axis.set_xlim(series[0, 0], max(series[-1, 0], series[0, 0] + 1e-3))
        axis.set_title(f"{Path(summary.source).name}, track {track}: {stats.frames} frames")
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figures[track] = figure
    return figures
