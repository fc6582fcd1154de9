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


def test_mesh_geometry_is_drawn_where_it_was_measured(pyfeat_media):
    """With the face mesh, the overlay adds the 68 points, the pose axes from the nose tip and the gaze rays;
    without it (or when anonymising) nothing of that is drawn."""
    from mien import Analyzer
    from mien.io.images import read_image
    from mien.viz.draw import POSE_AXIS_COLOURS

    image = read_image(pyfeat_media / "single_face.jpg")
    result = Analyzer(landmarks="mesh", threads=2).analyze(image)
    assert len(result) == 1
    plain = draw_faces(image, result, 0, geometry=False)
    drawn = draw_faces(image, result, 0)
    changed = np.abs(drawn.astype(int) - plain.astype(int)).sum(axis=2) > 0
    x1, y1, x2, y2 = result.boxes[0]
    ys, xs = np.nonzero(changed)
    assert len(xs) > 200 and (x1 - 0.5 * (x2 - x1) <= xs).all() and (xs <= x2 + 0.5 * (x2 - x1)).all()
    # the head's x axis (red) leaves the nose tip towards the image's right for this near-frontal face
    nose = np.array([result.data["x_30"][0], result.data["y_30"][0]])
    red = np.all(drawn == POSE_AXIS_COLOURS[0], axis=2)
    red_x = np.nonzero(red)[1]
    assert len(red_x) > 10 and np.median(red_x) > nose[0]
    assert (draw_faces(image, result, 0, anonymize="box") == draw_faces(image, result, 0, anonymize="box",
                                                                       geometry=False)).all()
    without_mesh = Analyzer(threads=2).analyze(image)
    assert (draw_faces(image, without_mesh, 0) == draw_faces(image, without_mesh, 0, geometry=False)).all()
