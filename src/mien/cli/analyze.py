"""``mien analyze``, ``mien video`` and ``mien demo``: images and videos into tables, overlays and plots
(:mod:`mien.workflows.images`, :mod:`mien.workflows.video`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mien.cli.common import (EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE, Rows, UsageError, add_analyzer_options,
                             add_overwrite_option, add_video_options, analyzer_config, build_analyzer,
                             check_output_targets, check_overlay_target, interrupted, progress_bar, shows_progress,
                             video_options)


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--output", "-o", type=Path, help="table to write (.csv, .jsonl, .json or .parquet); default: CSV on stdout")
    add("--format", choices=["csv", "jsonl", "json", "parquet"], help="output format if not given by the suffix")
    add("--schema", choices=["mien", "openface", "pyfeat"], default="mien", help="column names")
    add("--resume", action="store_true", help="continue an interrupted --output (CSV/JSON lines): skip inputs already in it")
    add_overwrite_option(parser)
    add("--overlay", type=Path, metavar="DIR",
        help="write each image with boxes and labels drawn into DIR, as NAME.overlay.jpg "
             "(DIR must hold no input and lie outside the folders analysed)")
    add("--csv-formula-guard", action=argparse.BooleanOptionalAction, default=True,
        help="CSV: prefix ' to text starting with = + - @ so spreadsheets do not run it as a "
             "formula (default: on; --no-csv-formula-guard writes text as it is)")
    add("--quiet", "-q", action="store_true", help="no progress bar or summary")


def add_parsers(verbs) -> None:
    analyze = verbs.add_parser("analyze", help="faces, landmarks and expressions in images")
    analyze.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    _add_table_options(analyze)
    add_analyzer_options(analyze)

    video = verbs.add_parser("video", help="tracked faces and expressions over time in videos")
    video.add_argument("paths", nargs="+", help="video files, folders (searched recursively) or glob patterns")
    _add_table_options(video)
    add_analyzer_options(video)
    add_video_options(video)
    video.add_argument("--summary", type=Path, help="per-track summary table (default: <output>_summary.csv)")
    video.add_argument("--plots", type=Path, metavar="DIR", help="timeline PNG per track (needs matplotlib)")
    video.add_argument("--anonymize", choices=["blur", "pixelate", "box"], help="obscure faces in the overlay")
    video.add_argument("--no-crops", action="store_true", help="guarantee that no pixel of the input is written")



def add_demo_parser(verbs) -> None:
    demo = verbs.add_parser("demo", help="analyse the sample photos that ship with scikit-image")
    demo.add_argument("--out-dir", type=Path, default=Path("demo_out"),
                      help="folder for results.csv and the annotated photos")
    demo.add_argument("--threads", type=int, help="CPU threads per model")


def expanded_inputs(args: argparse.Namespace, extensions: frozenset[str] | None = None) -> list[str]:
    """The verb's inputs (:func:`mien.io.sources.expand_inputs`), warning about patterns that match nothing."""
    from mien.io.sources import expand_inputs

    unmatched: list[str] = []
    undecodable: list[str] = []
    paths = expand_inputs(args.paths, *([extensions] if extensions else []), unmatched=unmatched,
                          undecodable=None if extensions else undecodable)
    for pattern in unmatched:
        print(f"warning: no file matches {pattern}", file=sys.stderr)
    if undecodable:
        print(f"warning: {len(undecodable)} HEIC/HEIF file(s) left out (e.g. {undecodable[0]}): this installation "
              "cannot decode them; convert them to JPEG or PNG", file=sys.stderr)
    return paths


def run_analyze_verb(args: argparse.Namespace) -> int:
    return run_analyze(args, expanded_inputs(args))


def run_analyze(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.workflows.images import ImagesReport, resume_todo, run_images

    if not paths:
        print("mien analyze: no input files found", file=sys.stderr)
        return EXIT_USAGE
    if args.resume and not args.output:
        raise UsageError("--resume needs --output")
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the output and --overwrite replaces it: give one of them")
    if args.resume and args.schema != "mien":
        raise UsageError("--resume needs the default column names (--schema mien)")
    check_output_targets({"--output": args.output}, paths, args.overwrite, continued=["--output"] if args.resume else [])
    if args.overlay is not None:
        check_overlay_target(args.overlay, paths, args.paths)
    todo, done_before = (resume_todo(paths, args.output, args.format, args.csv_formula_guard) if args.resume
                         else (list(paths), {}))
    analyzer = build_analyzer(analyzer_config(args))
    rows = Rows(args.output, args.format, args.schema, analyzer.columns, append=args.resume,
                formula_guard=args.csv_formula_guard)
    progress = progress_bar(len(todo), args.quiet)
    report = ImagesReport()
    completed = False
    try:
        run_images(analyzer, todo, rows.write, args.overlay, progress, report)
        completed = True
    except KeyboardInterrupt:
        progress.close()
        rows.close(completed=False)
        return interrupted(rows, f"{report.done} of {len(todo)} inputs")
    finally:
        rows.close(completed)
    progress.close()
    if not args.quiet:
        skipped = f", {len(done_before)} already done" if done_before else ""
        where = f" -> {args.output}" if args.output else ""
        print(f"{report.done} inputs, {report.faces} faces, {report.failed} failed{skipped}{where}", file=sys.stderr)
    return EXIT_INPUT_FAILED if report.failed else EXIT_OK


def frame_estimate(paths: list[str], options) -> int:
    """Frames to analyse, from the headers (for the progress bar only)."""
    from mien.video.reader import probe

    total = 0
    for path in paths:
        try:
            info = probe(path)
        except Exception:
            continue
        frames = info.frames or int(info.duration * info.fps)
        span = (options.sampling.end or info.duration or 0) - options.sampling.start
        if options.sampling.fps and span > 0:
            frames = int(span * options.sampling.fps)
        total += max(0, frames // options.sampling.every)
    return total


def run_video_verb(args: argparse.Namespace) -> int:
    from mien.video.reader import VIDEO_EXTENSIONS

    return run_video(args, expanded_inputs(args, VIDEO_EXTENSIONS))


def run_video(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.io.writers import format_for, part_path
    from mien.workflows.video import VideoOutputs, plan_resume, run_videos, video_columns

    if not paths:
        print("mien video: no input videos found", file=sys.stderr)
        return EXIT_USAGE
    if args.no_crops and args.overlay:
        raise UsageError("--no-crops writes no pixel of the input: drop --overlay (or drop --no-crops)")
    if args.resume and (not args.output or args.overlay):
        raise UsageError("--resume needs --output, and cannot continue an --overlay video (run without it)")
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the output and --overwrite replaces it: give one of them")
    summary = args.summary or (args.output.with_name(f"{args.output.stem}_summary.csv") if args.output else None)
    resuming = args.resume and (args.output.exists() or part_path(args.output).exists())
    check_output_targets({"--output": args.output, "--summary": summary}, paths, args.overwrite,
                         continued=["--output", "--summary"] if resuming else ["--output"] if args.resume else [])
    # an existing summary being replaced is written beside it and renamed only when the run completes
    replaced_summary = summary if summary is not None and os.path.lexists(summary) and not args.resume else None
    pending_summary = replaced_summary.with_name(f"{summary.stem}.part{summary.suffix}") if replaced_summary else None
    if summary is not None:
        format_for(summary)  # a summary name without a table suffix is refused before any video is analysed
    if args.overlay is not None:
        check_overlay_target(args.overlay, paths, args.paths)
    options = video_options(args)
    plan = plan_resume(args.output, args.format, args.schema, args.csv_formula_guard) if args.resume else None
    analyzer = build_analyzer(analyzer_config(args))
    rows = Rows(args.output, args.format, args.schema, video_columns(analyzer), append=args.resume,
                formula_guard=args.csv_formula_guard)
    if plan is not None and rows.file is not None:
        plan.part = rows.file.part  # the rows already written are read back from there while appending
    outputs = VideoOutputs(rows_callback=rows.write, summary=pending_summary or summary,
                           overlay=args.overlay, plots=args.plots, anonymize=args.anonymize)
    total = frame_estimate(paths, options) if shows_progress(args.quiet) else 0
    progress = progress_bar(total, args.quiet, unit="frame")
    completed = False
    try:
        report = run_videos(analyzer, paths, options, outputs, plan, progress)
        completed = True
    except KeyboardInterrupt:
        progress.close()
        rows.close(completed=False)
        return interrupted(rows, "every frame analysed so far")
    finally:
        rows.close(completed)
        if replaced_summary is not None and completed:
            os.replace(pending_summary, replaced_summary)
    progress.close()
    for message in report.failed.values():
        print(f"error: {message}", file=sys.stderr)
    if not args.quiet:
        where = f" -> {args.output}" if args.output else ""
        print(f"{len(paths)} videos, {report.frames} frames, {report.faces} faces, {len(report.failed)} with errors"
              f"{where}", file=sys.stderr)
    return EXIT_INPUT_FAILED if report.failed else EXIT_OK


def demo_inputs() -> list[str]:
    """Sample photos shipped inside scikit-image: two with faces, one cat (no face)."""
    try:
        import skimage
    except ImportError:
        raise SystemExit("mien demo needs scikit-image for its sample photos: pip install 'mien[demo]'") from None
    folder = Path(skimage.__file__).parent / "data"
    return [str(folder / name) for name in ("astronaut.png", "camera.png", "chelsea.png")]


def run_demo(args: argparse.Namespace) -> int:
    parser = argparse.ArgumentParser(prog="mien")
    add_parsers(parser.add_subparsers(dest="verb"))
    out = args.out_dir
    analyze_args = parser.parse_args(
        ["analyze", "--output", str(out / "results.csv"), "--overlay", str(out / "overlay"), "--overwrite"]
        + (["--threads", str(args.threads)] if args.threads else []) + demo_inputs())
    code = run_analyze(analyze_args, analyze_args.paths)
    import pandas as pd

    table = pd.read_csv(out / "results.csv")
    shown = ["input", "face_id", "face_score", "quality", "expression"] + [c for c in table if c.startswith("expr_")]
    table["input"] = table["input"].map(lambda p: Path(p).name)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(table[shown].to_string(index=False))
    print(f"\ntable: {out / 'results.csv'}\noverlays: {out / 'overlay'}/")
    return code


