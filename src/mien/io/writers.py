"""Tables out, for the applications: the formats of :mod:`mien.tables` (CSV, JSON lines, JSON, Parquet:
``TableWriter``, ``write_table``, the text escapes) and the atomic file helpers of :mod:`mien.files`, both
re-exported here, and resuming a table that a killed run left behind (:func:`prepare_resume`, the CLI's
``--resume``).

Files are written into ``<name>.part`` and renamed onto ``<name>`` when the writer is closed, so a reader
never sees a half-written file. Each ``write()`` call (one input's rows) reaches the file in one piece;
on Ctrl-C the inputs completed so far are committed, and ``append=True`` continues such a file.
``schema="openface"`` or ``"pyfeat"`` renames columns to those tools' conventions.

Temporary files are created exclusively and never through a symbolic link (``O_EXCL | O_NOFOLLOW``): a
pre-existing ``<name>.part`` link is removed, not followed; other temporary files get random names
(:func:`exclusive_temp`).

Text values are written with two reversible rules (:func:`escape_text`, :func:`guard_formula`): bytes of
a file name that are not UTF-8 become ``\\xHH``, and in CSV a value that a spreadsheet would run as a
formula gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

from mien.files import check_not_in_use, create_exclusive, exclusive_temp, part_path, write_atomic
from mien.tables import (FORMATS, FORMULA_STARTS, SCHEMA_RENAMES, SCHEMA_VALUES, RowFormatter, TableWriter,
                         arrow_schema, escape_text, format_for, guard_formula, read_name, records_to_pandas,
                         renamed_columns, stored_name, unescape_text, unguard_formula, write_table, write_whole_table)

__all__ = ["FORMATS", "FORMULA_STARTS", "SCHEMA_RENAMES", "SCHEMA_VALUES", "RowFormatter", "TableWriter",
           "arrow_schema", "create_exclusive", "csv_records", "escape_text", "exclusive_temp", "format_for",
           "guard_formula", "part_path", "prepare_resume", "read_name", "records_to_pandas", "renamed_columns",
           "stored_name", "unescape_text", "unguard_formula", "write_atomic", "write_table", "write_whole_table"]


def csv_records(text: str) -> list[str]:
    """Split CSV text into its records, each with its ending ``\\n``: a ``\\n`` inside a quoted value does not
    end a record. A torn last record is returned without ``\\n``, or dropped if it ends inside quotes."""
    pieces = text.split("\n")
    records: list[str] = []
    current: list[str] = []
    quotes = 0
    for piece in pieces[:-1]:
        current.append(piece)
        quotes += piece.count('"')
        if quotes % 2 == 0:  # an even number of quotes so far: this newline ends the record
            records.append("\n".join(current) + "\n")
            current, quotes = [], 0
    if current:  # a quoted value never closed: the record was torn
        return records
    return records + [pieces[-1]] if pieces[-1] else records


def _take_over_leftover(path: Path) -> None:
    """A killed run's ``<name>.part`` becomes ``<name>`` (only a regular file: a link is never taken)."""
    part = part_path(path)
    check_not_in_use(part)  # a live run's table is never taken
    try:
        if stat.S_ISREG(os.lstat(part).st_mode):
            os.replace(part, path)
    except FileNotFoundError:
        pass


def _read_rows(path: Path, fmt: str, text: str,
               formula_guard: bool) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """``(header lines, body lines, rows)`` of a CSV / JSON-lines text; a torn last line is dropped."""
    lines = csv_records(text) if fmt == "csv" else [line + "\n" for line in text.split("\n")]
    if fmt != "csv":
        lines[-1] = lines[-1][:-1]  # what follows the last newline: "" or a torn line
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    if fmt == "csv":
        header, body = (lines[:1], lines[1:]) if lines else ([], [])
        names = next(csv.reader(header)) if header else []
        if header and not {"input", "frame"} <= set(names):
            raise ValueError(f"{path}: no 'input'/'frame' columns; cannot resume a table written with another schema")
        rows = [dict(zip(names, next(csv.reader(io.StringIO(line, newline=""))))) for line in body]
        for row in rows:
            row["input"] = read_name(row.get("input", ""), csv_guarded=formula_guard)
        return header, body, rows
    try:
        rows = [json.loads(line) for line in lines]
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON lines ({error}); cannot resume") from None
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not {"input", "frame"} <= set(row):
            raise ValueError(f"{path}: line {number} is not a row with 'input' and 'frame'; cannot resume a table "
                             "mien did not write")
        row["input"] = read_name(str(row["input"]))
    return [], lines, rows


def _frame_number(path: Path, row: dict[str, Any], number: int) -> int:
    value = row.get("frame")
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: row {number} has frame {value!r}, not a whole number; cannot resume") from None


def prepare_resume(path: str | Path, fmt: str | None = None, formula_guard: bool = True) -> dict[str, int]:
    """Get ``path`` ready to be continued; returns, per input already in it, the last frame whose rows
    are complete (images: 0; an input not in the dict has to be done from the start). Input names are
    returned as they were before writing (see :func:`read_name`; ``formula_guard``: how the CSV was written).

    A file left as ``<name>.part`` by a killed run is taken over, a torn last row is cut, and the rows of
    the file's last (input, frame) are removed, since a kill may have interrupted them.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"{path}: only CSV and JSON-lines outputs can be resumed")
    _take_over_leftover(path)
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}); cannot resume a table mien did not write") from None
    header, body, rows = _read_rows(path, fmt, text, formula_guard)
    keys = [(r["input"], _frame_number(path, r, number)) for number, r in enumerate(rows, 1)]
    if keys:
        last = keys[-1]
        while keys and keys[-1] == last:
            keys.pop()
            body.pop()
    write_atomic(path, "".join(header + body))
    done: dict[str, int] = {}
    for name, frame in keys:
        done[name] = max(done.get(name, -1), frame)
    return done
