"""``mien live``: analyse a camera, stream or file as it plays (:mod:`mien.workflows.live`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mien.cli.common import (EXIT_INPUT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Rows, UsageError, add_analyzer_options,
                             add_overwrite_option, add_video_options, analyzer_config, build_analyzer,
                             check_output_targets, check_overlay_target, video_options)


def add_parsers(verbs) -> None:
    live = verbs.add_parser("live", help="analyse a camera, stream or file as it plays")
    live.add_argument("--source", default="0", help="webcam index (0), stream URL (rtsp://...) or video file")
    live.add_argument("--output", "-o", type=Path, help="rows to write (.csv or .jsonl)")
    live.add_argument("--overlay", type=Path, help="annotated video to write (.mp4)")
    live.add_argument("--display", choices=["auto", "yes", "no"], default="auto", help="show a window (auto: if a display exists)")
    live.add_argument("--anonymize", choices=["blur", "pixelate", "box"], help="obscure faces in the window and overlay")
    live.add_argument("--max-frames", type=int, help="stop after N frames")
    live.add_argument("--quiet", "-q", action="store_true", help="no closing summary (frames, faces, frames per second)")
    add_overwrite_option(live)
    add_analyzer_options(live, exclude=("pages", "batch_size"))
    add_video_options(live, include=("detect_every", "smooth", "max_missed"))


def run(args: argparse.Namespace) -> int:
    from mien.video.sources import live_frames
    from mien.workflows.live import has_display, run_live
    from mien.workflows.video import video_columns
    from mien.workflows.video_writer import VideoWriter

    display = args.display == "yes" or (args.display == "auto" and has_display())
    if not display and not args.output and not args.overlay:
        raise UsageError("no display here: give --output and/or --overlay to keep the results")
    source_file = [args.source] if os.path.isfile(args.source) else []  # a video file played as a live source
    check_output_targets({"--output": args.output, "--overlay": args.overlay}, source_file, args.overwrite)
    if args.overlay is not None and source_file:
        check_overlay_target(args.overlay, source_file, [])
    analyzer = build_analyzer(analyzer_config(args))
    options = video_options(args)
    rows = Rows(args.output, None, "mien", video_columns(analyzer)) if args.output else None
    overlay = VideoWriter(args.overlay, 25) if args.overlay else None
    completed = False
    try:
        report = run_live(analyzer, live_frames(args.source, args.max_frames), options, rows, overlay, display,
                          args.anonymize)
        completed = not report.interrupted
    finally:
        if rows:
            rows.close(completed)
        if overlay:
            overlay.close(commit=overlay.frames > 0)
    for message in report.errors:
        print(f"error: {message}", file=sys.stderr)
    if not args.quiet:
        rate = report.frames / report.seconds if report.seconds else 0.0
        print(f"{report.frames} frames, {report.faces} faces, {rate:.1f} frames/s"
              + (" (interrupted; rows written)" if report.interrupted else ""), file=sys.stderr)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_INPUT_FAILED if report.errors else EXIT_OK
