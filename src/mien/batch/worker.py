"""What runs inside a worker (a local process or a Ray actor): models loaded once, then unit after unit.

A unit's rows go back to the driver as one Arrow table; the worker writes nothing, so a worker killed at
any moment leaves nothing behind, and the driver is the single writer of the output.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mien.batch.plan import BatchOptions, Unit

BATCH_COLUMNS = ("segment", "segment_track_id")  # after the image and video columns
KILL_HOOK_ENV = "MIEN_BATCH_TEST_KILL"  # tests only: "<unit key substring>@<marker file>"


def batch_columns(image_columns: list[str] | None = None) -> list[str]:
    """The columns of a batch part: the analyzer's (default: mien's standard ones), video and batch columns."""
    from mien.schema import COLUMNS, VIDEO_COLUMNS

    return list(image_columns or COLUMNS) + list(VIDEO_COLUMNS) + list(BATCH_COLUMNS)


def arrow_schema(image_columns: list[str] | None = None):
    """One schema for every part (image rows leave the video columns empty), so the parts read as one
    dataset; ``image_columns``: the analyzer's (with landmarks or mesh AUs when asked for)."""
    import pyarrow as pa

    from mien.schema import COLUMN_TYPES

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    kinds = {**COLUMN_TYPES, **dict.fromkeys(BATCH_COLUMNS, "int")}
    return pa.schema([(name, types[kinds.get(name, "float")]) for name in batch_columns(image_columns)])


@dataclass
class UnitOutcome:
    """What a worker sends back for one unit. ``ok`` False: the unit itself failed (``error`` says why;
    bad inputs do not make a unit fail, they are rows with ``error`` set)."""

    key: str
    ok: bool
    table: Any = None  # pyarrow.Table of the unit's rows
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> rows, faces, error
    warmup: list[list[float]] = field(default_factory=list)  # video: [frame, track, x1, y1, x2, y2] before start
    seconds: float = 0.0
    error: str = ""
    worker: str = ""


def _kill_hook(unit: Unit) -> None:
    """Test hook: SIGKILL this worker on its first attempt at a matching unit (a marker file remembers
    the attempt; the marker ``always`` kills on every attempt)."""
    spec = os.environ.get(KILL_HOOK_ENV)
    if not spec or "@" not in spec:
        return
    pattern, marker = spec.rsplit("@", 1)
    if pattern not in unit.key:
        return
    if marker != "always":
        try:
            Path(marker).touch(exist_ok=False)
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


class UnitRunner:
    """Loads the models once (``threads`` intra-op threads each) and runs units. Used as-is as the Ray
    actor class and inside each local worker process."""

    def __init__(self, options: BatchOptions, threads: int) -> None:
        import cv2

        from mien.analyzer import Analyzer

        cv2.setNumThreads(threads)  # the application owns OpenCV's global thread count
        self.options = options
        self.threads = threads
        self.analyzer = Analyzer.from_config(options.analysis.replace(threads=threads))
        self.video_options = options.video
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def ping(self) -> str:
        return self.name

    def run(self, unit: Unit) -> UnitOutcome:
        _kill_hook(unit)
        started = time.perf_counter()
        try:
            if unit.kind == "video":
                table, inputs, warmup = self._video(unit)
            else:
                table, inputs, warmup = self._images(unit)
        except Exception as error:  # a bug or an environment problem: the unit fails, the job goes on
            detail = traceback.format_exception_only(type(error), error)[-1].strip()
            return UnitOutcome(unit.key, False, error=f"{unit.describe()}: {detail}",
                               seconds=time.perf_counter() - started, worker=self.name)
        return UnitOutcome(unit.key, True, table, inputs, warmup, time.perf_counter() - started, worker=self.name)

    def _images(self, unit: Unit):
        records: list[dict[str, Any]] = []
        inputs: dict[str, dict[str, Any]] = {}
        for result, _ in self.analyzer.stream(list(unit.paths)):
            rows = list(result.to_records())
            records += rows
            source = result.frames.inputs[0] if len(result.frames) else ""
            inputs[source] = {"rows": len(rows), "faces": len(result), "error": (result.errors or [""])[0]}
        return _to_table(records, self.analyzer.columns), inputs, []

    def _video(self, unit: Unit):
        from dataclasses import replace

        from mien.batch.segments import read_segment
        from mien.video.pipeline import VideoAnalysis

        path = unit.paths[0]
        options = replace(self.video_options, start=unit.start - unit.warmup, end=unit.end)
        frames = read_segment(path, options.sampling, path, last=unit.end is None,
                              max_pixels=self.options.analysis.max_pixels)
        own_track_ids = unit.segments == 1
        records: list[dict[str, Any]] = []
        warmup: list[list[float]] = []
        faces, error = 0, ""
        for result, frame in VideoAnalysis(self.analyzer, options).process(frames):
            if frame.image is not None and frame.timestamp < unit.start - 1e-6:
                warmup += [[frame.index, int(t), *map(float, box)]
                           for t, box in zip(result.data.get("track_id", []), result.boxes)]
                continue
            for record in result.to_records():
                record["segment"] = unit.index
                record["segment_track_id"] = record.get("track_id")
                if not own_track_ids:
                    record["track_id"] = None  # set when the video's segments are reconciled
                records.append(record)
            faces += len(result)
            error = error or (result.errors or [""])[0]
        inputs = {path: {"rows": len(records), "faces": faces, "error": error}}
        return _to_table(records, self.analyzer.columns), inputs, warmup


def _to_table(records: list[dict[str, Any]], image_columns: list[str] | None = None):
    """The unit's rows as Arrow, text escaped as every writer does (a file name that is not UTF-8 keeps
    its bytes as ``\\xHH``; see :func:`mien.io.writers.escape_text`)."""
    import pyarrow as pa

    from mien.io.writers import escape_text

    escaped = [{key: escape_text(value) if isinstance(value, str) else value for key, value in record.items()}
               for record in records]
    return pa.Table.from_pylist(escaped, schema=arrow_schema(image_columns))
