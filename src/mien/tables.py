"""A :class:`~mien.result.Result`'s rows as tables: CSV, JSON lines, JSON and Parquet, all built on
``Result.to_records()``. ``Result.to_csv``/``to_json``/``to_parquet``/``to_pandas`` call these;
:mod:`mien.io.writers` re-exports them for the applications, with resuming.

Files are written into ``<name>.part`` and renamed onto ``<name>`` when the writer is closed, so a reader
never sees a half-written file (created exclusively, never through a link: :mod:`mien.files`). Each
``write()`` call (one input's rows) reaches the file in one piece; on Ctrl-C the inputs completed so far are
committed, and ``append=True`` continues such a file (the CLI's ``--resume``). ``schema="openface"`` or
``"pyfeat"`` renames columns to those tools' conventions.

Text values are written with two reversible rules (:func:`escape_text`, :func:`guard_formula`): bytes of
a file name that are not UTF-8 become ``\\xHH``, and in CSV a value that a spreadsheet would run as a
formula gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable

from mien.files import NOFOLLOW, check_not_in_use, create_exclusive, hold_lock, part_path
from mien.schema import COLUMN_TYPES

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}

# Renames to other tools' column names; columns without an entry keep mien's name. OpenFace 2's geometry
# columns need none: with landmarks="mesh" mien writes them under OpenFace's names and in its units
# (mien.schema.MESH_COLUMNS: pose_Tx..pose_Tz in mm, pose_Rx..pose_Rz in radians, gaze_0_x..gaze_1_z unit
# vectors, gaze_angle_x/y in radians, x_0..y_67 in pixels; tests/test_schema_openface.py checks them against a
# real OpenFace CSV). The AU columns need none either: ``AUxx_c`` (presence) and, with ``aus="mesh"``, ``AUxx_r``
# (intensity, 0-5) are OpenFace's names (tests/tasks/test_aus.py); ``AUxx_p`` has no OpenFace counterpart.
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


# ---------------------------------------------------------------------------------------- text escapes
_NEEDS_ESCAPE = re.compile("\\\\x|[\ud800-\udfff]")
_ESCAPED = re.compile(r"\\x([0-9a-f]{2})")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")  # what spreadsheets run as a formula, and the guard itself


def _escape_match(match: re.Match) -> str:
    found = match.group()
    if found == "\\x":
        return "\\x5cx"
    code = ord(found)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"


def escape_text(text: str) -> str:
    """``text`` as every writer stores it: a byte of a file name that is not UTF-8 (which Python reads as
    a surrogate escape, ``os.fsdecode``) becomes ``\\xHH`` (``b_\\xff.jpg``), and a backslash that is
    followed by ``x`` becomes ``\\x5c`` so that the rule can be undone (:func:`unescape_text`). Other
    unpaired surrogates (not produced by POSIX file names) become U+FFFD. Other text is unchanged."""
    return _NEEDS_ESCAPE.sub(_escape_match, text) if _NEEDS_ESCAPE.search(text) else text


def _unescape_match(match: re.Match) -> str:
    code = int(match.group(1), 16)
    return chr(code) if code < 0x80 else chr(0xDC00 + code)


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text`: ``os.fsencode(unescape_text(value))`` gives a name's bytes."""
    return _ESCAPED.sub(_unescape_match, text) if "\\x" in text else text


def guard_formula(text: str) -> str:
    """Prefix ``'`` to a CSV value that starts like a spreadsheet formula (``= + - @``, tab, CR) or with
    ``'`` itself (so that :func:`unguard_formula` is exact); spreadsheets show the value without it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unguard_formula(text: str) -> str:
    """The inverse of :func:`guard_formula`."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def stored_name(name: str, fmt: str, formula_guard: bool = True) -> str:
    """``name`` as a writer of format ``fmt`` stores it (the inverse of :func:`read_name`)."""
    text = escape_text(name)
    return guard_formula(text) if formula_guard and fmt == "csv" else text


def read_name(text: str, csv_guarded: bool = False) -> str:
    """A name as it was before a writer stored it (guard removed for CSV, escapes undone)."""
    return unescape_text(unguard_formula(text) if csv_guarded else text)


_JSON_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


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

    def __init__(self, columns: list[str], fmt: str, schema: str = "mien", formula_guard: bool = True) -> None:
        self.columns = list(columns)
        self.header = renamed_columns(self.columns, schema)
        self.format = fmt
        self.values = SCHEMA_VALUES.get(schema, {})
        self.formula_guard = formula_guard and fmt == "csv"  # CSV only: other formats are not opened as sheets

    def ordered_values(self, record: dict[str, Any]) -> list[Any]:
        return [self.values[c](record.get(c)) if c in self.values else record.get(c) for c in self.columns]

    def written_values(self, record: dict[str, Any]) -> list[Any]:
        """:meth:`ordered_values` with text escaped as stored (:func:`escape_text`, CSV formula guard)."""
        values = [escape_text(v) if isinstance(v, str) else v for v in self.ordered_values(record)]
        if self.formula_guard:
            values = [guard_formula(v) if isinstance(v, str) else v for v in values]
        return values

    def header_text(self) -> str:
        if self.format == "csv":
            return self._csv_line(self.header)
        return "[\n" if self.format == "json" else ""

    def rows_text(self, records: Iterable[dict[str, Any]], first: bool = True) -> tuple[str, int]:
        """Text for ``records`` and their count; ``first`` says whether no JSON-array row precedes them."""
        if self.format == "csv":
            lines = [self._csv_line([_csv_value(v) for v in self.written_values(r)]) for r in records]
            return "".join(lines), len(lines)
        # U+2028, U+2029 and U+0085 written as escapes: str.splitlines() and other readers cut lines there
        objects = [json.dumps(dict(zip(self.header, (_json_value(v) for v in self.written_values(r)))),
                              ensure_ascii=False).translate(_JSON_LINE_BREAKS) for r in records]
        if self.format == "jsonl":
            return "".join(o + "\n" for o in objects), len(objects)
        separator = "" if first else ",\n"
        return (separator + ",\n".join(objects)) if objects else "", len(objects)

    def footer_text(self) -> str:
        return "\n]\n" if self.format == "json" else ""

    @staticmethod
    def _csv_line(values: list[Any]) -> str:
        """One CSV row ending in ``\\n``; a value holding ``\\r`` or ``\\n`` is quoted (the csv module
        quotes only the characters of its line terminator, so it writes with ``\\r\\n`` here)."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(values)
        return buffer.getvalue()[:-2] + "\n"


def arrow_schema(columns: list[str], header: list[str]):
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    return pa.schema([(h, types[COLUMN_TYPES.get(c, "float")]) for c, h in zip(columns, header)])



class TableWriter:
    """Write records to ``path`` incrementally and atomically (via ``path.part``).

    Use as a context manager; ``write(records)`` may be called many times and writes its rows in one
    piece. Columns are fixed at creation; keys outside them are ignored, missing keys are left empty.
    With ``append=True`` an existing CSV / JSON-lines file is continued (its header kept).
    ``formula_guard``: CSV text that a spreadsheet would run as a formula gets a leading ``'``
    (:func:`guard_formula`).
    """

    def __init__(self, path: str | Path, columns: list[str], fmt: str | None = None, schema: str = "mien",
                 append: bool = False, formula_guard: bool = True) -> None:
        self.path = Path(path)
        self.format = format_for(self.path, fmt)
        self.rows = 0
        self._closed = False
        self._formatter = RowFormatter(columns, self.format, schema, formula_guard)
        self.part = part_path(self.path)
        if append and self.format not in ("csv", "jsonl"):
            raise ValueError(f"{self.path}: only CSV and JSON-lines outputs can be resumed")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        continuing = append and self.path.exists()
        if continuing:
            check_not_in_use(self.part)
            os.replace(self.path, self.part)  # renames whatever entry was there; a link is replaced, not followed
            descriptor = os.open(self.part, os.O_WRONLY | os.O_APPEND | NOFOLLOW)
        else:
            descriptor = create_exclusive(self.part, replace_stale=True)
        try:
            hold_lock(descriptor, self.part)  # until closed (after the commit's rename): a second writer is refused
        except BaseException:
            os.close(descriptor)
            if not continuing:
                os.unlink(self.part)
            raise
        if self.format == "parquet":
            self._buffer: list[dict[str, Any]] = []
            self._parquet = None
            self._binary = os.fdopen(descriptor, "wb")
            return
        self._handle = open(descriptor, "a", newline="", encoding="utf-8")
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
            self._parquet = pq.ParquetWriter(self._binary, schema)
        if self._buffer or (final and self.rows == 0):
            ordered = [self._formatter.written_values(r) for r in self._buffer]
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
        handle = self._binary if self.format == "parquet" else self._handle
        try:
            if self.format == "parquet":
                self._flush_parquet(final=True)
                self._parquet.close()
            else:
                handle.write(self._formatter.footer_text())
            handle.flush()
            os.fsync(handle.fileno())
            if commit and os.name != "nt":  # renamed while open: the lock (it follows the file) covers the rename
                os.replace(self.part, self.path)
        finally:
            handle.close()
        if commit and os.name == "nt":  # Windows renames no open file (and has no advisory locks here)
            os.replace(self.part, self.path)

    def abandon(self) -> None:
        """Close without committing and remove ``.part`` (for a table that cannot be resumed): a file already at
        the final name stays as it was."""
        self.close(commit=False)
        self.part.unlink(missing_ok=True)

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        # Commit on success and on Ctrl-C (rows written so far are whole inputs); keep .part after a crash.
        self.close(commit=kind is None or issubclass(kind, KeyboardInterrupt))


def write_whole_table(path: str | Path, columns: list[str], records: Iterable[dict[str, Any]],
                      fmt: str | None = None) -> None:
    """Write a table that cannot be resumed: committed only when every record is written; after an error or
    Ctrl-C a file already at ``path`` stays as it was and no ``.part`` is left."""
    writer = TableWriter(path, columns, fmt)
    try:
        writer.write(records)
    except BaseException:
        writer.abandon()
        raise
    writer.close()


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
