"""Drawing results: faces onto image arrays (:func:`draw_faces`), and matplotlib figures of tracks, AUs,
affect, confusion and spotting (``*_figure`` functions, :func:`figure_to_array`). Nothing here chooses a
file name; :mod:`mien.workflows.plots` saves the figures."""

from mien.viz.draw import draw_faces
from mien.viz.timeline import figure_to_array

__all__ = ["draw_faces", "figure_to_array"]
