"""Tables out: CSV, JSON lines, JSON and Parquet, all built on ``Result.to_records()``.

Files are written into ``<name>.part`` and renamed onto ``<name>`` when the writer is closed, so a reader
never sees a half-written file. Each ``write()`` call (one input's rows) reaches the file in one piece;
on Ctrl-C the inputs completed so far are committed, and ``append=True`` continues such a file (the CLI's
``--resume``). ``schema="openface"`` or ``"pyfeat"`` renames columns to those tools' conventions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from mien.schema import COLUMN_TYPES

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}

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
# Value conventions that differ: OpenFace numbers frames from 1, mien (like py-feat) from 0.
SCHEMA_VALUES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "openface": {"frame": lambda v: None if v is None else v + 1},
}


def renamed_columns(columns: list[str], schema: str) -> list[str]:
    if schema not in SCHEMA_RENAMES:
        raise ValueError(f"unknown schema {schema!r}; choose from {', '.join(SCHEMA_RENAMES)}")
    renames = SCHEMA_RENAMES[schema]
    if schema == "pyfeat":  # py-feat spells AU intensities "AU01" where OpenFace and mien say "AU01_r"
        renames = {**renames, **{c: c[:-2] for c in columns if c.startswith("AU") and c.endswith("_r")}}
    return [renames.get(c, c) for c in columns]


def format_for(path: str | Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in ("csv", "jsonl", "json", "parquet"):
            raise ValueError(f"unknown output format {explicit!r}; choose csv, jsonl, json or parquet")
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: cannot tell the output format from '{suffix}'; use .csv, .jsonl, .json or .parquet")
    return FORMATS[suffix]


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    return value


class RowFormatter:
    """Turns records into text rows of one format with a fixed column order and naming schema."""

    def __init__(self, columns: list[str], fmt: str, schema: str = "mien") -> None:
        self.columns = list(columns)
        self.header = renamed_columns(self.columns, schema)
        self.format = fmt
        self.values = SCHEMA_VALUES.get(schema, {})

    def ordered_values(self, record: dict[str, Any]) -> list[Any]:
        return [self.values[c](record.get(c)) if c in self.values else record.get(c) for c in self.columns]

    def header_text(self) -> str:
        if self.format == "csv":
            return self._csv_line(self.header)
        return "[\n" if self.format == "json" else ""

    def rows_text(self, records: Iterable[dict[str, Any]], first: bool = True) -> tuple[str, int]:
        """Text for ``records`` and their count; ``first`` says whether no JSON-array row precedes them."""
        if self.format == "csv":
            lines = [self._csv_line([_csv_value(v) for v in self.ordered_values(r)]) for r in records]
            return "".join(lines), len(lines)
        objects = [json.dumps(dict(zip(self.header, (_json_value(v) for v in self.ordered_values(r)))), ensure_ascii=False)
                   for r in records]
        if self.format == "jsonl":
            return "".join(o + "\n" for o in objects), len(objects)
        separator = "" if first else ",\n"
        return (separator + ",\n".join(objects)) if objects else "", len(objects)

    def footer_text(self) -> str:
        return "\n]\n" if self.format == "json" else ""

    @staticmethod
    def _csv_line(values: list[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()


def arrow_schema(columns: list[str], header: list[str]):
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    return pa.schema([(h, types[COLUMN_TYPES.get(c, "float")]) for c, h in zip(columns, header)])


class TableWriter:
    """Write records to ``path`` incrementally and atomically (via ``path.part``).

    Use as a context manager; ``write(records)`` may be called many times and writes its rows in one
    piece. Columns are fixed at creation; keys outside them are ignored, missing keys are left empty.
    With ``append=True`` an existing CSV / JSON-lines file is continued (its header kept).
    """

    def __init__(self, path: str | Path, columns: list[str], fmt: str | None = None, schema: str = "mien",
                 append: bool = False) -> None:
        self.path = Path(path)
        self.format = format_for(self.path, fmt)
        self.rows = 0
        self._closed = False
        self._formatter = RowFormatter(columns, self.format, schema)
        self.part = self.path.with_name(self.path.name + ".part")
        if append and self.format not in ("csv", "jsonl"):
            raise ValueError(f"{self.path}: only CSV and JSON-lines outputs can be resumed")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "parquet":
            self._buffer: list[dict[str, Any]] = []
            self._parquet = None
            return
        continuing = append and self.path.exists()
        if continuing:
            os.replace(self.path, self.part)
        self._handle = open(self.part, "a" if continuing else "w", newline="", encoding="utf-8")
        if not continuing:
            self._handle.write(self._formatter.header_text())

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        if self.format == "parquet":
            rows = list(records)
            self._buffer.extend(rows)
            if len(self._buffer) >= 4096:
                self._flush_parquet()
            self.rows += len(rows)
            return len(rows)
        text, count = self._formatter.rows_text(records, first=self.rows == 0)
        self._handle.write(text)
        self._handle.flush()
        self.rows += count
        return count

    def _flush_parquet(self, final: bool = False) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as error:
            raise ImportError("Parquet output needs pyarrow: pip install 'mien[parquet]'") from error
        if self._parquet is None:
            schema = arrow_schema(self._formatter.columns, self._formatter.header)
            self._parquet = pq.ParquetWriter(str(self.part), schema)
        if self._buffer or (final and self.rows == 0):
            ordered = [self._formatter.ordered_values(r) for r in self._buffer]
            arrays = list(zip(*ordered)) if ordered else [[] for _ in self._formatter.header]
            table = pa.Table.from_arrays([pa.array(list(a), type=f.type) for a, f in zip(arrays, self._parquet.schema)],
                                         schema=self._parquet.schema)
            self._parquet.write_table(table)
        self._buffer = []

    def close(self, commit: bool = True) -> None:
        """Finish the file; with ``commit`` rename ``.part`` onto the final name, else leave ``.part``."""
        if self._closed:
            return
        self._closed = True
        if self.format == "parquet":
            self._flush_parquet(final=True)
            self._parquet.close()
        else:
            self._handle.write(self._formatter.footer_text())
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        if commit:
            os.replace(self.part, self.path)

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        # Commit on success and on Ctrl-C (rows written so far are whole inputs); keep .part after a crash.
        self.close(commit=kind is None or issubclass(kind, KeyboardInterrupt))


def records_to_pandas(records: Iterable[dict[str, Any]], columns: list[str], schema: str = "mien"):
    import pandas as pd

    formatter = RowFormatter(columns, "jsonl", schema)
    return pd.DataFrame([formatter.ordered_values(r) for r in records], columns=formatter.header)


def write_table(result, path: str | Path | None, fmt: str | None = None, schema: str = "mien") -> str | None:
    """Write a whole :class:`~mien.result.Result`; with ``path=None`` return the text (not for Parquet)."""
    if path is not None:
        with TableWriter(path, result.columns(), fmt, schema) as writer:
            writer.write(result.to_records())
        return None
    fmt = fmt or "csv"
    if fmt == "parquet":
        raise ValueError("Parquet is binary: give a path")
    formatter = RowFormatter(result.columns(), fmt, schema)
    rows, _ = formatter.rows_text(result.to_records())
    return formatter.header_text() + rows + formatter.footer_text()


def prepare_resume(path: str | Path, fmt: str | None = None) -> dict[str, int]:
    """Get ``path`` ready to be continued; returns, per input already in it, the last frame whose rows
    are complete (images: 0; an input not in the dict has to be done from the start).

    A file left as ``<name>.part`` by a killed run is taken over, a torn last line is cut, and the rows of
    the file's last (input, frame) are removed, since a kill may have interrupted them.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"{path}: only CSV and JSON-lines outputs can be resumed")
    part = path.with_name(path.name + ".part")
    if part.exists():
        os.replace(part, path)
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    if fmt == "csv":
        header, body = (lines[:1], lines[1:]) if lines else ([], [])
        names = next(csv.reader(header)) if header else []
        if header and not {"input", "frame"} <= set(names):
            raise ValueError(f"{path}: no 'input'/'frame' columns; cannot resume a table written with another schema")
        rows = [dict(zip(names, row)) for row in csv.reader(body)]
    else:
        header, body = [], lines
        try:
            rows = [json.loads(line) for line in body]
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON lines ({error}); cannot resume") from None
    keys = [(str(r.get("input", "")), int(r.get("frame") or 0)) for r in rows]
    if keys:
        last = keys[-1]
        while keys and keys[-1] == last:
            keys.pop()
            body.pop()
    tmp = path.with_name(path.name + ".resume")
    tmp.write_text("".join(header + body), encoding="utf-8")
    os.replace(tmp, path)
    done: dict[str, int] = {}
    for name, frame in keys:
        done[name] = max(done.get(name, -1), frame)
    return done
