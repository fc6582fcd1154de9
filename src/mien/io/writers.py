"""Tables out: CSV, JSON lines and Parquet, all built on ``Result.to_records()``.

Files are written incrementally into ``<name>.part`` and renamed onto ``<name>`` when the writer is
closed, so a reader never sees a half-written file; on Ctrl-C the rows completed so far are committed (each
input's rows are written whole), so nothing already computed is lost. ``schema="openface"`` or
``"pyfeat"`` renames columns to those tools' names.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

# Renames to other tools' column names; columns without an entry keep mien's name.
SCHEMA_RENAMES: dict[str, dict[str, str]] = {
    "mien": {},
    "openface": {"face_score": "confidence"},
    "pyfeat": {
        "face_x": "FaceRectX", "face_y": "FaceRectY", "face_width": "FaceRectWidth",
        "face_height": "FaceRectHeight", "face_score": "FaceScore",
        "expr_anger": "anger", "expr_disgust": "disgust", "expr_fear": "fear", "expr_happy": "happiness",
        "expr_sad": "sadness", "expr_surprise": "surprise", "expr_neutral": "neutral",
        "expr_contempt": "contempt",
    },
}


def renamed_columns(columns: list[str], schema: str) -> list[str]:
    if schema not in SCHEMA_RENAMES:
        raise ValueError(f"unknown schema {schema!r}; choose from {', '.join(SCHEMA_RENAMES)}")
    renames = SCHEMA_RENAMES[schema]
    # py-feat spells AU intensities "AU01" where OpenFace and mien say "AU01_r".
    if schema == "pyfeat":
        renames = {**renames, **{c: c[:-2] for c in columns if c.startswith("AU") and c.endswith("_r")}}
    return [renames.get(c, c) for c in columns]


def format_for(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in ("csv", "jsonl", "parquet"):
            raise ValueError(f"unknown output format {explicit!r}; choose csv, jsonl or parquet")
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: cannot tell the output format from '{suffix}'; use .csv, .jsonl or .parquet")
    return FORMATS[suffix]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value


class TableWriter:
    """Write records to ``path`` incrementally and atomically (via ``path.part``).

    Use as a context manager; ``write(records)`` may be called many times. Columns are fixed at
    creation; keys outside them are ignored, missing keys are left empty.
    """

    def __init__(self, path: str | Path, columns: list[str], fmt: str | None = None, schema: str = "mien",
                 append: bool = False) -> None:
        self.path = Path(path)
        self.format = format_for(self.path, fmt)
        self.columns = list(columns)
        self.header = renamed_columns(self.columns, schema)
        self.part = self.path.with_name(self.path.name + ".part")
        self.rows = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append and self.format == "parquet":
            raise ValueError("appending is supported for CSV and JSON lines, not Parquet")
        if append and self.path.exists():
            os.replace(self.path, self.part)  # continue the committed file
        mode = "a" if append and self.part.exists() else "w"
        if self.format == "parquet":
            self._buffer: list[dict[str, Any]] = []
            self._parquet = None
        else:
            self._handle = open(self.part, mode, newline="", encoding="utf-8")
            if self.format == "csv":
                self._csv = csv.writer(self._handle)
                if mode == "w":
                    self._csv.writerow(self.header)

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        count = 0
        if self.format == "csv":
            for record in records:
                self._csv.writerow([_csv_value(record.get(c)) for c in self.columns])
                count += 1
        elif self.format == "jsonl":
            for record in records:
                row = {h: _json_value(record.get(c)) for c, h in zip(self.columns, self.header)}
                self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        else:
            for record in records:
                self._buffer.append({h: record.get(c) for c, h in zip(self.columns, self.header)})
                count += 1
            if len(self._buffer) >= 2048:
                self._flush_parquet()
        if self.format != "parquet":
            self._handle.flush()
        self.rows += count
        return count

    def _flush_parquet(self) -> None:
        if not self._buffer:
            return
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as error:
            raise ImportError("Parquet output needs pyarrow: pip install 'mien[parquet]'") from error
        table = pa.Table.from_pylist(self._buffer)
        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(str(self.part), self._schema)
        else:
            table = table.cast(self._schema) if table.schema != self._schema else table
        self._parquet.write_table(table)
        self._buffer = []

    def close(self, commit: bool = True) -> None:
        """Finish the file; with ``commit`` rename ``.part`` onto the final name, else leave ``.part``."""
        if self._closed:
            return
        self._closed = True
        if self.format == "parquet":
            if commit and self._parquet is None:
                self._buffer = self._buffer or []
                self._write_empty_parquet()
            else:
                self._flush_parquet()
            if self._parquet is not None:
                self._parquet.close()
        else:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        if commit:
            os.replace(self.part, self.path)

    def _write_empty_parquet(self) -> None:
        if self._buffer:
            self._flush_parquet()
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({h: pa.array([], pa.string()) for h in self.header}), str(self.part))

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        # Commit on success and on Ctrl-C (rows written so far are whole); keep .part after a crash.
        self.close(commit=kind is None or issubclass(kind, KeyboardInterrupt))


def records_to_pandas(records: Iterator[dict[str, Any]], columns: list[str], schema: str = "mien"):
    import pandas as pd

    frame = pd.DataFrame.from_records(list(records), columns=columns)
    frame.columns = renamed_columns(columns, schema)
    return frame


def write_table(result, path: str | Path | None, fmt: str | None = None, schema: str = "mien") -> str | None:
    """Write a whole :class:`~mien.result.Result`; with ``path=None`` return CSV/JSON-lines text."""
    columns = result.columns()
    if path is None:
        if fmt == "parquet":
            raise ValueError("Parquet needs a path")
        buffer = io.StringIO()
        header = renamed_columns(columns, schema)
        if fmt == "csv":
            writer = csv.writer(buffer)
            writer.writerow(header)
            for record in result.to_records():
                writer.writerow([_csv_value(record.get(c)) for c in columns])
        else:
            for record in result.to_records():
                buffer.write(json.dumps({h: _json_value(record.get(c)) for c, h in zip(columns, header)}) + "\n")
        return buffer.getvalue()
    with TableWriter(path, columns, fmt, schema) as writer:
        writer.write(result.to_records())
    return None
