"""Drawing results: overlays on images (and, later, plots)."""

from mien.viz.draw import draw_faces, save_image

__all__ = ["draw_faces", "save_image"]
