"""68 iBUG landmarks from dlib (``landmarks="dlib68"``) and the eye aspect ratio."""

from __future__ import annotations

import numpy as np
import pytest


def test_dense_landmarks_eye_openness_and_columns(pyfeat_media):
    """68 iBUG points from dlib: a wide-eyed surprise face has open eyes, a broad smile narrower ones;
    the columns appear in the table only when asked for."""
    from mien import Analyzer
    from mien.models.dlib68 import eye_aspect_ratio
    from mien.schema import DENSE_LANDMARK_COLUMNS

    analyzer = Analyzer(threads=2, landmarks="dlib68")
    assert analyzer.columns[-len(DENSE_LANDMARK_COLUMNS):] == list(DENSE_LANDMARK_COLUMNS)
    assert analyzer.metadata["eye_openness_method"] == "dlib68-ear"
    table = analyzer.analyze([pyfeat_media / "0-f1-su-ph.jpg", pyfeat_media / "0-f15-hao-ph.jpg"]).to_pandas()
    assert set(DENSE_LANDMARK_COLUMNS) <= set(table.columns)
    surprise, happy = table.iloc[0], table.iloc[1]
    assert surprise["eye_open_left"] > 0.3 and surprise["eye_open_right"] > 0.3
    assert happy["eye_open_left"] < surprise["eye_open_left"] and happy["eye_open_right"] < surprise["eye_open_right"]
    for _, row in table.iterrows():  # the 68 points lie inside the face box (jaw may touch its edge)
        xs, ys = row[[f"x_{i}" for i in range(68)]].to_numpy(float), row[[f"y_{i}" for i in range(68)]].to_numpy(float)
        pad = 0.15 * row["face_width"]
        assert (xs > row["face_x"] - pad).all() and (xs < row["face_x"] + row["face_width"] + pad).all()
        assert (ys > row["face_y"] - pad).all() and (ys < row["face_y"] + row["face_height"] + pad).all()
        assert xs[36:42].mean() < xs[42:48].mean()  # image-left eye first
    # EAR by hand: corners 4 apart, lids 1 and 2 apart -> (1 + 2) / (2 * 4)
    eye = np.array([[0, 0], [1, -0.5], [3, -1], [4, 0], [3, 1], [1, 0.5]], float)
    assert eye_aspect_ratio(eye) == pytest.approx(3 / 8)
    assert "x_0" not in Analyzer(threads=1).columns
    with pytest.raises(ValueError, match="landmarks"):
        Analyzer(threads=1, landmarks="dlib5")
