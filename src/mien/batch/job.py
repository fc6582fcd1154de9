"""The driver: plan, skip what is committed, run the rest on an engine, commit each unit as it arrives,
reconcile video track ids, and write the per-input status table.

Output folder::

    plan.json        the units (stable across reruns)
    commits.jsonl    the commit log: one line per finished unit (see mien.batch.manifest)
    parts/input_id=<id>/unit-<k>.parquet   the rows of unit k of a folder of images or of a video
    manifest.csv     per input: status (done / failed / partial / pending), rows, faces, error, seconds
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mien.batch.engines import EngineSettings, make_engine
from mien.batch.manifest import CommitLog, input_status, unit_record, write_status
from mien.batch.plan import BatchOptions, Plan, Unit, check_batch_output, load_or_create_plan
from mien.batch.tracks import SegmentTracks, reconcile
from mien.io.writers import write_atomic


@dataclass
class BatchReport:
    """What a run did. ``status``: the per-input rows also written to ``manifest.csv``."""

    output: Path
    engine: str = ""
    units_total: int = 0
    units_skipped: int = 0  # committed by an earlier run
    units_run: int = 0
    units_failed: int = 0
    retries: int = 0  # attempts beyond the first (a worker died)
    rows: int = 0  # rows committed by this run
    seconds: float = 0.0
    interrupted: bool = False
    status: list[dict] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.status)


def check_ready(options: BatchOptions) -> None:
    """Fail before starting workers when Parquet cannot be written or a model name is wrong."""
    from mien.registry import get_spec

    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError("mien batch writes Parquet: pip install 'mien[parquet]'") from None

    try:  # an unknown name is the user's mistake (a usage error naming the option), not a crash
        if not options.analysis.whole_image:
            get_spec(options.analysis.detector, "detector")
        expression = str(options.analysis.expression)
        if expression.endswith(".onnx") or Path(expression).is_file():
            if not Path(expression).is_file():
                raise FileNotFoundError(f"{expression}: expression model file not found")
        else:
            get_spec(expression, "expression")
    except KeyError as error:
        raise ValueError(f"--detector/--expression: {error.args[0] if error.args else error}") from None


def remove_uncommitted(output: Path, log: CommitLog) -> int:
    """Delete part files no commit names (left by a run killed between writing and committing)."""
    keep = log.committed_files()
    removed = 0
    for path in sorted((output / "parts").rglob("*")) if (output / "parts").is_dir() else []:
        if path.is_file() and path.relative_to(output).as_posix() not in keep:
            path.unlink()
            removed += 1
    return removed


def write_part(output: Path, unit: Unit, table) -> None:
    """The unit's rows to ``parts/...`` atomically: written beside, flushed to disk, renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = output / unit.part_file
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    write_atomic(target, buffer.getvalue().to_pybytes())  # a new file: never one planted there, never through a link


def run_batch(inputs: Sequence[str | Path], output: str | Path, options: BatchOptions = BatchOptions(),
              settings: EngineSettings = EngineSettings(),
              progress: Callable[[Unit, object], None] | None = None) -> BatchReport:
    """Analyse images, folders and videos into ``output`` (a folder), resuming what it holds.

    Rerunning with the same ``output`` skips committed units and redoes the rest; results are the same
    as one uninterrupted run, without duplicate rows. ``progress`` is called with each finished unit
    and its outcome. Ctrl-C stops after committing what finished (``report.interrupted``).
    """
    output = Path(output)
    started = time.perf_counter()
    check_ready(options)
    check_batch_output(output)  # before the lock file is created in it
    with exclusive(output):
        return _run_locked(inputs, output, options, settings, progress, started)


def _open_lock(path: Path) -> int:
    """The lock file's descriptor: created if missing, never truncated, never opened through a symbolic
    link (a link planted there is removed: mien's lock file is never one)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        path.unlink()
        return os.open(path, flags, 0o666)


@contextmanager
def exclusive(output: Path):
    """Hold ``output/.lock`` for the whole run: two drivers must never commit into one output."""
    import fcntl

    output.mkdir(parents=True, exist_ok=True)
    with open(_open_lock(output / ".lock"), "r+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{output}: another mien batch is writing there") from None
        yield


def _run_locked(inputs: Sequence[str | Path], output: Path, options: BatchOptions, settings: EngineSettings,
                progress: Callable[[Unit, object], None] | None, started: float) -> BatchReport:
    plan = load_or_create_plan(output, inputs, options)
    if not plan.units:
        raise ValueError("no input files found")
    log = CommitLog.open(output / "commits.jsonl")
    remove_uncommitted(output, log)
    todo = [unit for unit in plan.units if not log.done(unit.key)]
    report = BatchReport(output, units_total=len(plan.units), units_skipped=len(plan.units) - len(todo))
    videos = split_videos(plan)
    reconcile_videos(output, videos, log)  # videos a killed run finished but did not reconcile
    engine = make_engine(options, settings) if todo else None
    report.engine = engine.describe() if engine else "nothing to do"
    try:
        for unit, outcome, attempts in (engine.run(todo) if engine else ()):
            if outcome.ok:
                write_part(output, unit, outcome.table)
                report.rows += outcome.table.num_rows
            else:
                report.units_failed += 1
            log.append(unit_record(unit, outcome, attempts))
            report.units_run += 1
            report.retries += attempts - 1
            if unit.partition in videos:
                reconcile_videos(output, {unit.partition: videos[unit.partition]}, log)
            if progress is not None:
                progress(unit, outcome)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if engine is not None:
            engine.close()
        report.status = input_status(plan, log)
        write_status(output / "manifest.csv", report.status)
        report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------- video track ids
def split_videos(plan: Plan) -> dict[str, list[Unit]]:
    """The segments of each video, in order (videos of one segment need no reconciling)."""
    videos: dict[str, list[Unit]] = {}
    for unit in plan.units:
        if unit.kind == "video":
            videos.setdefault(unit.partition, []).append(unit)
    return {partition: sorted(units, key=lambda u: u.index) for partition, units in videos.items()
            if len(units) > 1}


def reconcile_videos(output: Path, videos: dict[str, list[Unit]], log: CommitLog) -> None:
    """Give every video whose units are all settled (committed or failed) one set of track ids."""
    for partition, units in videos.items():
        if any(unit.key not in log.units for unit in units):
            continue  # not settled yet
        committed = [unit.key for unit in units if log.done(unit.key)]
        if log.reconciled.get(partition) == committed:
            continue
        _rewrite_track_ids(output, units, log)
        log.append({"reconciled": partition, "units": committed})


def _face_rows(table) -> np.ndarray:
    """``(frame, segment track id, x1, y1, x2, y2)`` of a part's face rows."""
    columns = table.select(["frame", "segment_track_id", "face_x", "face_y", "face_width", "face_height",
                            "success"]).to_pandas()
    faces = columns[columns["success"] == 1]
    x, y = faces["face_x"].to_numpy(float), faces["face_y"].to_numpy(float)
    return np.column_stack([faces["frame"].to_numpy(float), faces["segment_track_id"].to_numpy(float), x, y,
                            x + faces["face_width"].to_numpy(float), y + faces["face_height"].to_numpy(float)])


def _rewrite_track_ids(output: Path, units: list[Unit], log: CommitLog) -> None:
    """Set ``track_id`` in each committed segment from ``segment_track_id`` (so redoing it is harmless)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables, segments = {}, []
    for unit in units:
        if not log.done(unit.key):
            segments.append(SegmentTracks())
            continue
        tables[unit.key] = pq.read_table(output / unit.part_file)
        warmup = np.asarray(log.units[unit.key].get("warmup") or np.zeros((0, 6)), float).reshape(-1, 6)
        previous_done = unit.index > 0 and log.done(units[unit.index - 1].key)
        segments.append(SegmentTracks(_face_rows(tables[unit.key]), warmup, previous_done))
    for unit, mapping in zip(units, reconcile(segments)):
        if unit.key not in tables:
            continue
        table = tables[unit.key]
        local = table.column("segment_track_id").to_pylist()
        track_ids = pa.array([None if t is None else mapping[t] for t in local], pa.int64())
        table = table.set_column(table.schema.get_field_index("track_id"), "track_id", track_ids)
        write_part(output, unit, table)


# ---------------------------------------------------------------------------------------- reading
def read_batch(output: str | Path):
    """All committed rows of a batch output as one pandas DataFrame, sorted by input, frame and face
    (rows of uncommitted files, if a run was killed, are not included)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mien.batch.worker import arrow_schema

    output = Path(output)
    log = CommitLog.open(output / "commits.jsonl")
    files = sorted(log.committed_files())
    table = pa.concat_tables([pq.read_table(output / name) for name in files]) if files else arrow_schema().empty_table()
    frame = table.to_pandas()
    return frame.sort_values(["input", "frame", "face_id"], kind="stable").reset_index(drop=True) if len(frame) else frame
