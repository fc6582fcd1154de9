"""``mien batch``: the command line of :func:`mien.batch.run_batch`, option for option.

    mien batch photos/ clips/ --output out/                          # local worker processes
    mien batch photos/ --output out/ --engine ray --address auto     # an existing Ray cluster
"""

from __future__ import annotations

import argparse
import sys

from mien.config import DEFAULT_EXPRESSION
from pathlib import Path

EXIT_OK, EXIT_INPUT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 3, 130


def add_parser(verbs) -> None:
    batch = verbs.add_parser("batch", help="analyse a corpus into a Parquet dataset, resumable, locally or on Ray")
    batch.add_argument("paths", nargs="+", help="images, videos, folders (searched recursively) or glob patterns")
    batch.add_argument("--output", "-o", type=Path, required=True,
                       help="output folder; rerunning with the same folder continues the job")
    batch.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local worker processes (default) or Ray actors (pip install 'mien[ray]')")
    batch.add_argument("--address", help="Ray cluster: 'auto' (this node's cluster) or ray://HOST:10001; "
                                         "default: start a local Ray")
    batch.add_argument("--num-workers", type=int, help="workers (default: one per CPU core of the machine or cluster)")
    batch.add_argument("--threads-per-worker", type=int, help="onnxruntime threads per worker (default: cores / workers)")
    batch.add_argument("--chunk-size", type=int, default=64, help="images per unit of work (default 64)")
    batch.add_argument("--segment-seconds", type=float, default=30.0, help="videos are cut into segments this long (default 30)")
    batch.add_argument("--overlap", type=float, default=1.0,
                       help="seconds analysed before each segment to carry tracks across the cut (default 1)")
    batch.add_argument("--max-attempts", type=int, default=2, help="tries per unit when its worker dies (default 2)")
    batch.add_argument("--whole-image", action="store_true", help="skip detection: each image is one cropped face")
    batch.add_argument("--detector", default="retinaface")
    batch.add_argument("--det-threshold", type=float, help="minimum face score in [0, 1] (default 0.8)")
    batch.add_argument("--det-max-size", type=int, help="long side images are shrunk to for detection (default 640)")
    batch.add_argument("--expression", default=DEFAULT_EXPRESSION)
    batch.add_argument("--batch-size", type=int, default=16, help="images whose faces are classified together")
    batch.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    batch.add_argument("--max-pixels", type=int, default=100_000_000)
    sampling = batch.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, default=1, help="videos: analyse every N-th frame")
    sampling.add_argument("--fps", type=float, help="videos: analyse at most F frames per second")
    batch.add_argument("--detect-every", type=int, default=1, help="videos: full detection every K analysed frames")
    batch.add_argument("--smooth", type=float, default=0.3, help="videos: smoothing time constant, seconds")
    batch.add_argument("--max-missed", type=float, default=1.0, help="videos: seconds a face may be missed")
    batch.add_argument("--quiet", "-q", action="store_true")


def options_from(args: argparse.Namespace):
    from mien.batch import BatchOptions, EngineSettings

    detector_options = {key: value for key, value in (("score_threshold", args.det_threshold),
                                                      ("max_size", args.det_max_size)) if value is not None}
    options = BatchOptions(detector=args.detector, expression=args.expression, whole_image=args.whole_image,
                           detector_options=detector_options, batch_size=args.batch_size,
                           max_pixels=args.max_pixels, device=args.device, every=args.every, fps=args.fps,
                           detect_every=args.detect_every, smooth=args.smooth, max_missed=args.max_missed,
                           chunk_size=args.chunk_size, segment_seconds=args.segment_seconds, overlap=args.overlap)
    settings = EngineSettings(args.engine, args.address, args.num_workers, args.threads_per_worker, args.max_attempts)
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
