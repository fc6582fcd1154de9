"""Confusion matrix as a figure (row-normalised, counts printed), with matplotlib's object API."""

from __future__ import annotations


import numpy as np


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str = ""):
    """The confusion matrix as a figure; ``matrix``: (C, C+1) counts, rows true classes, columns predictions,
    the last "no face"."""
    from mien.viz.timeline import check_plotting

    check_plotting()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = list(class_names) + ["no face"]
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(1.0 + 0.8 * len(columns), 1.0 + 0.7 * len(class_names)), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axis.text(column, row, str(int(matrix[row, column])), ha="center", va="center", fontsize=8, color=colour)
    axis.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
