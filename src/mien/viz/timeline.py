"""Timeline plots: the smoothed probability of each expression over time, one PNG per track.

Needs matplotlib (``pip install 'mien[plots]'``); nothing else in mien imports it.
"""

from __future__ import annotations

from pathlib import Path

from mien.schema import EXPRESSIONS
from mien.video.summary import TrackSummary
from mien.viz.draw import EXPRESSION_COLOURS


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("timeline plots need matplotlib: pip install 'mien[plots]'") from error
    return plt


def plot_track_timelines(summary: TrackSummary, folder: str | Path, min_frames: int = 2) -> list[Path]:
    """Write ``<video stem>_track<id>.png`` per track with at least ``min_frames`` frames; returns the paths."""
    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for track, stats in sorted(summary.tracks.items()):
        series = summary.series(track)
        if len(series) < min_frames:
            continue
        figure, axis = plt.subplots(figsize=(10, 3.2), dpi=100)
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
        path = folder / f"{Path(summary.source).stem}_track{track}.png"
        tmp = path.with_name(path.name + ".part.png")
        figure.savefig(tmp)
        plt.close(figure)
        tmp.replace(path)
        written.append(path)
    return written
