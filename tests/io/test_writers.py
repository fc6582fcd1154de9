"""The record serialiser's writers (mien.io.writers): same columns in every format, atomic files, append, adapters."""

import json

import numpy as np
import pandas as pd
import pytest

from mien.io.writers import TableWriter
from mien.result import FrameTable, Result
from mien.schema import COLUMNS

from builders import two_frame_result


def test_pandas_csv_jsonl_and_parquet_agree(tmp_path):
    result = two_frame_result()
    frame = result.to_pandas()
    assert list(frame.columns) == list(COLUMNS)
    result.to_csv(tmp_path / "r.csv")
    result.to_json(tmp_path / "r.jsonl")
    result.to_parquet(tmp_path / "r.parquet")
    from_csv = pd.read_csv(tmp_path / "r.csv")
    from_json = pd.read_json(tmp_path / "r.jsonl", lines=True)
    from_parquet = pd.read_parquet(tmp_path / "r.parquet")
    for other in (from_csv, from_json, from_parquet):
        assert list(other.columns) == list(COLUMNS)
        np.testing.assert_allclose(other["expr_happy"].fillna(-1), frame["expr_happy"].fillna(-1), atol=1e-6)
        assert other["success"].tolist() == [1, 1, 0, 0]
    assert not list(tmp_path.glob("*.part"))


def test_text_outputs_without_a_path():
    csv_text = two_frame_result().to_csv()
    assert csv_text.splitlines()[0].split(",") == list(COLUMNS)
    first = json.loads(two_frame_result().to_json().splitlines()[0])
    assert first["expression"] == "happy" and first["error"] == ""


def test_schema_adapters_rename_columns():
    pyfeat = two_frame_result().to_pandas(schema="pyfeat")
    assert {"FaceRectX", "FaceRectWidth", "FaceScore", "happiness", "anger"} <= set(pyfeat.columns)
    openface = two_frame_result().to_pandas(schema="openface")
    assert {"frame", "face_id", "timestamp", "success", "confidence"} <= set(openface.columns)
    with pytest.raises(ValueError, match="unknown schema"):
        two_frame_result().to_pandas(schema="nope")


def test_writer_commits_rows_on_interrupt_and_keeps_part_on_crash(tmp_path):
    result = two_frame_result()
    path = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        with TableWriter(path, result.columns()) as writer:
            writer.write(result.to_records())
            raise KeyboardInterrupt
    assert len(pd.read_csv(path)) == 4  # whole rows kept, file committed
    crashed = tmp_path / "crash.csv"
    with pytest.raises(RuntimeError):
        with TableWriter(crashed, result.columns()) as writer:
            writer.write(result.to_records())
            raise RuntimeError("disk on fire")
    assert not crashed.exists() and (tmp_path / "crash.csv.part").exists()


def no_face_result(n: int) -> Result:
    table = FrameTable()
    for i in range(n):
        table.append(f"empty{i}.jpg", 0, 0.0, 10, 10, "")
    return Result(frames=table)


def test_parquet_schema_is_fixed_even_when_the_first_rows_have_no_faces(tmp_path):
    path = tmp_path / "r.parquet"
    with TableWriter(path, Result().columns()) as writer:
        writer.write(no_face_result(5000).to_records())  # more than one buffered chunk of all-empty rows
        writer.write(two_frame_result().to_records())
    table = pd.read_parquet(path)
    assert len(table) == 5004 and table["expr_happy"].dtype == np.float64
    assert table["expression"].iloc[-4] == "happy"


def test_empty_parquet_keeps_typed_columns(tmp_path):
    Result().to_parquet(tmp_path / "e.parquet")
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "e.parquet")
    assert str(schema.field("face_x").type) == "double" and str(schema.field("input").type) == "string"


def test_json_array_output(tmp_path):
    two_frame_result().to_json(tmp_path / "r.json", lines=False)
    rows = json.loads((tmp_path / "r.json").read_text())
    assert len(rows) == 4 and rows[0]["expression"] == "happy"
    assert json.loads(Result().to_json(lines=False)) == []


def test_openface_schema_numbers_frames_from_1():
    assert two_frame_result().to_pandas(schema="openface")["frame"].tolist() == [1, 1, 1, 1]
    assert two_frame_result().to_pandas()["frame"].tolist() == [0, 0, 0, 0]


def test_append_continues_a_committed_file(tmp_path):
    path = tmp_path / "r.csv"
    result = two_frame_result()
    with TableWriter(path, result.columns()) as writer:
        writer.write(result.to_records())
    with TableWriter(path, result.columns(), append=True) as writer:
        writer.write(no_face_result(2).to_records())
    table = pd.read_csv(path)
    assert len(table) == 6 and list(table.columns) == list(COLUMNS)
