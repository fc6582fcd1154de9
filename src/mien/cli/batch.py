"""``mien batch``: the command line of :func:`mien.batch.run_batch`, option for option.

    mien batch photos/ clips/ --output out/                          # local worker processes
    mien batch photos/ --output out/ --engine ray --address auto     # an existing Ray cluster
"""

from __future__ import annotations

import argparse
import sys

from pathlib import Path

from mien.cli.common import (EXIT_ERROR, EXIT_INPUT_FAILED, EXIT_INTERRUPTED, EXIT_OK, add_analyzer_options,
                             add_video_options, analyzer_values, video_values)


def add_parsers(verbs) -> None:
    batch = verbs.add_parser("batch", help="analyse a corpus into a Parquet dataset, resumable, locally or on Ray")
    batch.add_argument("paths", nargs="+", help="images, videos, folders (searched recursively) or glob patterns")
    batch.add_argument("--output", "-o", type=Path, required=True,
                       help="output folder; rerunning with the same folder continues the job")
    batch.add_argument("--engine", choices=["local", "ray"],
                       help="local worker processes (default) or Ray actors (pip install 'mien[ray]')")
    batch.add_argument("--address", help="Ray cluster: 'auto' (this node's cluster) or ray://HOST:10001; "
                                         "default: start a local Ray")
    batch.add_argument("--num-workers", type=int, help="workers (default: one per CPU core of the machine or cluster)")
    batch.add_argument("--threads-per-worker", type=int, help="onnxruntime threads per worker (default: cores / workers)")
    batch.add_argument("--chunk-size", type=int, help=f"images per unit of work (default {_cut('chunk_size')})")
    batch.add_argument("--segment-seconds", type=float,
                       help=f"videos are cut into segments this long (default {_cut('segment_seconds'):g})")
    batch.add_argument("--overlap", type=float, help="seconds analysed before each segment to carry tracks across "
                                                     f"the cut (default {_cut('overlap'):g})")
    batch.add_argument("--max-attempts", type=int, help="tries per unit when its worker dies (default "
                                                        f"{_engine('max_attempts')})")
    add_analyzer_options(batch, exclude=("threads",))  # threads: --threads-per-worker
    add_video_options(batch, include=("every", "fps", "detect_every", "smooth", "max_missed"))
    batch.add_argument("--quiet", "-q", action="store_true", help="no per-unit progress lines or closing summary")


def _cut(name: str):
    from mien.batch.plan import BatchOptions

    return getattr(BatchOptions(), name)


def _engine(name: str):
    from mien.batch.engines import EngineSettings

    return getattr(EngineSettings(), name)


def options_from(args: argparse.Namespace):
    """The :class:`BatchOptions` and :class:`EngineSettings` of a parsed ``mien batch`` (unset: defaults)."""
    from mien.batch import BatchOptions, EngineSettings

    options = BatchOptions.from_options(**analyzer_values(args), **video_values(args), chunk_size=args.chunk_size,
                                        segment_seconds=args.segment_seconds, overlap=args.overlap)
    given = {"engine": args.engine, "address": args.address, "num_workers": args.num_workers,
             "threads": args.threads_per_worker, "max_attempts": args.max_attempts}
    settings = EngineSettings(**{name: value for name, value in given.items() if value is not None})
    return options, settings


def run(args: argparse.Namespace) -> int:
    from mien.batch import run_batch

    options, settings = options_from(args)

    def progress(unit, outcome) -> None:
        if not args.quiet:
            state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            print(f"{unit.key}: {state} ({outcome.seconds:.1f} s)", file=sys.stderr)

    from mien.batch.engines import WorkersFailing

    try:
        report = run_batch(args.paths, args.output, options, settings, progress)
    except WorkersFailing as error:
        print(f"mien batch: {error}; committed units are kept", file=sys.stderr)
        return EXIT_ERROR
    for row in report.status:
        if row["status"] == "failed":
            print(f"error: {row['error']}", file=sys.stderr)
    if not args.quiet:
        print(f"{report.engine}; units: {report.units_run} run, {report.units_skipped} already committed, "
              f"{report.units_failed} failed, {report.retries} retried; inputs: {report.count('done')} done, "
              f"{report.count('failed')} failed, {report.count('partial') + report.count('pending')} unfinished; "
              f"{report.rows} rows in {report.seconds:.1f} s -> {args.output}", file=sys.stderr)
    if report.interrupted:
        print("interrupted: committed units are kept; rerun the same command to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    unfinished = report.count("partial") + report.count("pending")
    return EXIT_INPUT_FAILED if report.count("failed") or unfinished else EXIT_OK
