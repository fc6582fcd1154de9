"""The commit log (``commits.jsonl``) and the per-input status table (``manifest.csv``).

The driver is the only writer. A unit's Parquet file is renamed into place first, then one JSON line is
appended and fsync'ed: that line *is* the commit. A file in ``parts/`` without a line is what a killed run
left and is removed on the next run; a torn line (the driver died while writing it) is ignored.
Later lines about the same unit or video win.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mien.batch.plan import Plan, Unit
from mien.io.writers import RowFormatter, write_atomic

STATUS_COLUMNS = ("input", "kind", "input_id", "status", "rows", "faces", "error", "seconds", "units_done",
                  "units_total")


@dataclass
class CommitLog:
    path: Path
    units: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit key -> its last record
    reconciled: dict[str, list[str]] = field(default_factory=dict)  # video partition -> unit keys covered
    torn: int = 0  # lines that were cut off by a kill and are ignored

    @classmethod
    def open(cls, path: Path) -> "CommitLog":
        log = cls(path)
        if not path.exists():
            return log
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # torn by a kill mid-write: that commit never happened (the unit is
                log.torn += 1  # redone; its file name is fixed, so redoing it cannot duplicate rows)
                continue
            log._apply(record)
        return log

    def _apply(self, record: dict[str, Any]) -> None:
        if "reconciled" in record:
            self.reconciled[record["reconciled"]] = record["units"]
        else:
            self.units[record["unit"]] = record

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (the commit point), then apply it."""
        # ASCII JSON: file names that are not UTF-8 (surrogate escapes) are kept exactly as \udcXX escapes
        line = json.dumps(record, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            if handle.tell() and not self._ends_with_newline():
                handle.write("\n")  # after a torn line, start a fresh one
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._apply(record)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def done(self, key: str) -> bool:
        return self.units.get(key, {}).get("status") == "ok"

    def committed_files(self) -> set[str]:
        return {record["file"] for record in self.units.values() if record.get("status") == "ok"}


def input_status(plan: Plan, log: CommitLog) -> list[dict[str, Any]]:
    """One row per input file: ``done`` (all its units committed, no error), ``failed`` (an error: in its
    rows, or a unit that could not be run), ``partial`` (some units committed) or ``pending``."""
    rows: dict[str, dict[str, Any]] = {}
    for unit in plan.units:
        record = log.units.get(unit.key, {})
        for path in unit.paths:
            row = rows.setdefault(path, {"input": path, "kind": "video" if unit.kind == "video" else "image",
                                         "input_id": unit.partition, "rows": 0, "faces": 0, "error": "",
                                         "seconds": 0.0, "units_done": 0, "units_total": 0, "unit_failed": False})
            row["units_total"] += 1
            if record.get("status") == "ok":
                facts = record["inputs"].get(path, {})
                row["units_done"] += 1
                row["rows"] += facts.get("rows", 0)
                row["faces"] += facts.get("faces", 0)
                row["error"] = row["error"] or facts.get("error", "")
                row["seconds"] += record["seconds"] / len(unit.paths)  # an image's share of its chunk
            elif record.get("status") == "failed":
                row["unit_failed"] = True
                row["error"] = row["error"] or record["error"]
    for row in rows.values():
        complete = row["units_done"] == row["units_total"]
        if row.pop("unit_failed") or (complete and row["error"]):
            row["status"] = "failed"
        elif complete:
            row["status"] = "done"
        else:
            row["status"] = "partial" if row["units_done"] else "pending"
        row["seconds"] = round(row["seconds"], 4)
    return list(rows.values())


def write_status(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """The per-input table, replaced atomically; text written as every mien CSV is (names escaped, formula
    guard: see :mod:`mien.io.writers`)."""
    formatter = RowFormatter(list(STATUS_COLUMNS), "csv")
    text, _ = formatter.rows_text(rows)
    write_atomic(path, formatter.header_text() + text)


def unit_record(unit: Unit, outcome, attempts: int) -> dict[str, Any]:
    if not outcome.ok:
        return {"unit": unit.key, "status": "failed", "error": outcome.error, "attempts": attempts,
                "worker": outcome.worker}
    return {"unit": unit.key, "status": "ok", "file": unit.part_file, "rows": outcome.table.num_rows,
            "seconds": round(outcome.seconds, 4), "attempts": attempts, "worker": outcome.worker,
            "inputs": outcome.inputs, "warmup": outcome.warmup}
