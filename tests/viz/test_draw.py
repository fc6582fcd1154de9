"""Overlays drawn into arrays (mien.viz.draw): the faces a video tracker expects but the detector missed are
obscured too, read from the frame table."""

import numpy as np

from mien.detect.base import Detections
from mien.result import FrameTable, Result
from mien.viz.draw import draw_faces


def frame_without_faces(missed: list[np.ndarray] | None) -> Result:
    table = FrameTable()
    table.append("clip.mp4", 0, 0.0, 64, 48, "")
    if missed is not None:
        table.data["missed_boxes"] = missed
    return Result.from_detections(table, [Detections.empty()], expression_probs=np.zeros((0, 8), np.float32),
                                  blur=np.zeros(0, np.float32), outside=np.zeros(0, np.float32))


def test_missed_boxes_in_the_frame_table_are_anonymised():
    image = np.full((48, 64, 3), 200, np.uint8)
    missed = [np.array([[16, 8, 48, 40]], np.float32)]
    drawn = draw_faces(image, frame_without_faces(missed), 0, anonymize="box")
    assert (drawn[12:36, 20:44] == 0).all() and (drawn[0, 0] == 200).all()  # the box (and its margin) only
    assert (draw_faces(image, frame_without_faces(missed), 0) == image).all()  # drawn only when anonymising
    assert (draw_faces(image, frame_without_faces(None), 0, anonymize="box") == image).all()  # photos have none
