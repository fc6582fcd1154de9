"""Plot of a spotting run: the micro and macro contrast curves, their thresholds and the spotted intervals.

Needs matplotlib (``pip install 'mien[plots]'``); drawn on an Agg canvas so pyplot's state is untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mien.viz.timeline import check_plotting

if TYPE_CHECKING:  # pragma: no cover
    from mien.micro.spot import SpotResult

KIND_COLOURS = {"micro": "#d62728", "macro": "#1f77b4"}


def spotting_figure(result: "SpotResult", title: str | None = None):
    """A figure: one panel per curve (x = seconds), threshold dashed, spotted intervals shaded."""
    check_plotting()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(result.curves), 1, sharex=True, squeeze=False)[:, 0]
    seconds = np.arange(result.frames) / result.fps
    for axis, (kind, curve) in zip(axes, result.curves.items()):
        colour = KIND_COLOURS.get(kind, "black")
        axis.plot(seconds, curve, color=colour, linewidth=1.2, label=f"{kind} feature difference (contrasted)")
        axis.axhline(result.thresholds.get(kind, 0.0), color="grey", linestyle="--", linewidth=1, label="threshold")
        for interval in result.intervals:
            if interval.kind == kind:
                axis.axvspan(interval.onset / result.fps, (interval.offset + 1) / result.fps, color=colour, alpha=0.15)
                axis.plot(interval.apex / result.fps, curve[interval.apex], "v", color=colour)
        axis.set_ylabel("C(t)")
        axis.legend(loc="upper right", fontsize=8)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    counts = {k: sum(i.kind == k for i in result.intervals) for k in result.curves}
    axes[0].set_title(title or f"{Path(result.source).name}: "
                      + ", ".join(f"{n} {k} interval{'s' * (n != 1)}" for k, n in counts.items()))
    figure.tight_layout()
    return figure
