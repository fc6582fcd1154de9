"""Result: one row rule, selection and merge, shapes checked when built, Detections held without copies."""

import numpy as np
import pytest

from mien.result import FrameTable, Result
from mien.schema import AUS, COLUMNS, EXPRESSION_COLUMNS, EXPRESSIONS

from builders import two_frame_result


def test_records_have_one_row_per_face_and_one_per_empty_frame():
    records = list(two_frame_result().to_records())
    assert [r["input"] for r in records] == ["a.jpg", "a.jpg", "b.jpg", "c.jpg"]
    assert [r["success"] for r in records] == [1, 1, 0, 0]
    assert records[0]["expression"] == "happy" and records[1]["expression"] == "surprise"
    assert records[0]["face_width"] == 40 and records[0]["face_height"] == 50
    assert records[0]["face_size"] == pytest.approx(20.0)
    assert records[0]["quality"] == "ok" and records[1]["quality"] == "blurry;cut"
    assert records[2]["face_id"] == -1 and records[2]["error"] == ""
    assert "empty file" in records[3]["error"]
    assert list(records[0]) == list(COLUMNS)


def test_selection_and_merge():
    result = two_frame_result()
    happy_only = result[result.expression_probs[:, EXPRESSIONS.index("happy")] > 0.5]
    assert len(happy_only) == 1 and happy_only.expressions == ["happy"]
    merged = Result.merge([result, result])
    assert len(merged) == 4 and len(merged.frames) == 6
    assert merged.frame_index.tolist() == [0, 0, 3, 3]
    assert len(list(merged.to_records())) == 8


def test_expression_columns_follow_the_canonical_order():
    assert EXPRESSIONS == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    assert EXPRESSION_COLUMNS[0] == "expr_neutral" and EXPRESSION_COLUMNS[-1] == "expr_contempt"


def test_failed_frames_have_empty_sizes():
    table = FrameTable()
    table.append("bad.jpg", 0, 0.0, None, None, "bad.jpg: empty file (0 bytes)")
    (row,) = Result(frames=table).to_records()
    assert row["image_width"] is None and "bad.jpg" in row["error"]


# ----------------------------------------------------------------- selection, merging, shapes (issue 16)
def two_photos_six_faces(metadata=None) -> Result:
    """a.jpg: 4 faces, b.jpg: 2 faces, as detection found them (face_id 0..3 and 0..1)."""
    from mien.detect.base import Detections

    table = FrameTable()
    table.append("a.jpg", 0, 0.0, 640, 480, "")
    table.append("b.jpg", 0, 0.0, 640, 480, "")

    def faces(k):
        boxes = np.array([[100 * i, 0, 100 * i + 50, 50] for i in range(k)], np.float32)
        return Detections(boxes, np.full(k, 0.9, np.float32), np.zeros((k, 5, 2), np.float32))

    return Result.from_detections(table, [faces(4), faces(2)], expression_probs=np.full((6, 8), 0.125, np.float32),
                                  blur=np.full(6, 100.0, np.float32), outside=np.zeros(6, np.float32),
                                  metadata=metadata or {"expression_model": "m"})


def test_a_selection_that_keeps_no_face_gives_no_rows_not_no_face_rows():
    result = two_photos_six_faces()
    assert result.frames.faces_detected == [4, 2] and result.face_id.tolist() == [0, 1, 2, 3, 0, 1]
    assert result.frame_index.tolist() == [0, 0, 0, 0, 1, 1]
    none = result[result.face_id == 99]
    assert len(none) == 0 and len(none.frames) == 2 and none.frames.faces_detected == [4, 2]
    assert list(none.to_records()) == []  # no "success = 0" row: detection did find faces there
    assert none.to_pandas().empty and list(none.to_pandas().columns) == list(COLUMNS)
    assert none.filtered_frames().tolist() == [True, True]
    first = result[result.face_id == 0]
    assert [(r["input"], r["face_id"], r["success"]) for r in first.to_records()] == [("a.jpg", 0, 1), ("b.jpg", 0, 1)]
    only_b = result[result.frame_index == 1]
    assert [r["input"] for r in only_b.to_records()] == ["b.jpg", "b.jpg"]


def test_frames_where_detection_found_nothing_keep_their_no_face_row_after_selection():
    result = two_frame_result()  # a.jpg 2 faces, b.jpg none, c.jpg failed
    assert result.frames.faces_detected == [2, 0, 0]
    records = list(result[result.face_id == 99].to_records())
    assert [(r["input"], r["success"]) for r in records] == [("b.jpg", 0), ("c.jpg", 0)]


def test_merging_a_result_with_an_empty_selection_of_it_keeps_its_frames():
    result = two_photos_six_faces()
    merged = Result.merge([result, result[:0]])
    assert len(merged.frames) == 2 and len(merged) == 6
    assert merged.frames.inputs == ["a.jpg", "b.jpg"] and merged.frames.faces_detected == [4, 2]
    assert list(merged.to_records()) == list(result.to_records())
    halves = Result.merge([result[result.frame_index == 0], result[result.frame_index == 1]])
    assert halves.frames.inputs == ["a.jpg", "b.jpg"] and halves.frame_index.tolist() == [0, 0, 0, 0, 1, 1]
    assert len(Result.merge([result, result]).frames) == 4  # plain concatenation otherwise


def test_merge_refuses_conflicting_metadata_and_empty_results_carry_none():
    a, b = two_photos_six_faces({"expression_model": "a"}), two_photos_six_faces({"expression_model": "b"})
    with pytest.raises(ValueError, match="results 0 and 1 disagree on metadata 'expression_model' \\('a' vs 'b'\\)"):
        Result.merge([a, b])
    with pytest.raises(ValueError, match="'extra' \\(absent vs 1\\)"):
        Result.merge([a, two_photos_six_faces({"expression_model": "a", "extra": 1})])
    same = two_photos_six_faces({"expression_model": "a", "au_thresholds": np.array([0.5, 0.4])})
    twin = two_photos_six_faces({"expression_model": "a", "au_thresholds": [0.5, 0.4]})
    assert len(Result.merge([same, twin]).frames) == 4  # equal values merge, whatever their container
    merged = Result.merge([Result(metadata={"expression_model": "other"}), a])
    assert merged.metadata == {"expression_model": "a"} and len(merged) == 6


def test_shapes_are_checked_when_a_result_is_built():
    with pytest.raises(ValueError, match=r"Result\.boxes: expected shape \(N, 4\) with N = 2 faces .*got \(3, 4\)"):
        Result(face_id=np.arange(2), boxes=np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"Result\.expression_probs: expected shape \(N, 8\) .*got \(2, 7\)"):
        Result(face_id=np.arange(2), expression_probs=np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match=r"Result\.data\['track_id'\]: expected shape \(N, \.\.\.\) with N = 2"):
        Result(face_id=np.arange(2), data={"track_id": np.arange(3)})
    table = FrameTable()
    table.append("a.jpg", 0, 0.0, 10, 10, "")
    with pytest.raises(ValueError, match=r"Result\.frame_index: values 0\.\.1 outside the 1 frames"):
        Result(frames=table, frame_index=np.array([0, 1]), face_id=np.array([0, 0]))
    with pytest.raises(ValueError, match=r"FrameTable\.errors: 0 values for 1 frames"):
        FrameTable(inputs=["a.jpg"], frames=[0], timestamps=[0.0], widths=[1], heights=[1])
    built = Result(face_id=np.arange(2))  # optional heads left out: NaN for every face
    assert built.valence.shape == (2,) and np.isnan(built.au_probs).all() and built.au_probs.shape == (2, len(AUS))
    assert built.au_features.shape == (2, 0)


def test_every_per_face_field_is_declared_once():
    from dataclasses import fields

    from mien.result import FACE_FIELDS

    declared = [f.name for f in FACE_FIELDS]
    attributes = [f.name for f in fields(Result) if f.name not in ("frames", "data", "metadata")]
    assert declared == attributes
    written = [c for f in FACE_FIELDS for c in f.columns]
    assert set(written) <= set(COLUMNS) and len(written) == len(set(written))


def test_detections_round_trip_without_copies():
    result = two_photos_six_faces()
    detections = result.detections
    assert len(detections) == 6 and detections.boxes is result.boxes and detections.scores is result.face_scores


def test_au_intensity_comes_from_the_AUxx_r_columns_of_data():
    plain = Result(face_id=np.arange(2))
    assert plain.au_intensity is None  # appearance AU heads measure no intensity
    measured = Result(face_id=np.arange(2), data={"AU12_r": np.array([3.0, 0.5]), "AU01_r": np.array([1.0, 0.0])})
    levels = measured.au_intensity
    assert levels.shape == (2, len(AUS)) and levels.dtype == np.float32
    np.testing.assert_array_equal(levels[:, AUS.index(12)], [3.0, 0.5])
    np.testing.assert_array_equal(levels[:, AUS.index(1)], [1.0, 0.0])
    assert np.isnan(np.delete(levels, [AUS.index(1), AUS.index(12)], axis=1)).all()  # columns not given: NaN
