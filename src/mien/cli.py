"""The ``mien`` command. Each verb is a thin layer over the Python API of the same name.

    mien analyze photos/ --output results.csv --overlay annotated/    # Analyzer().analyze(...)
    mien video clip.mp4 --output frames.csv --overlay clip_annotated.mp4   # Analyzer().analyze_video(...)
    mien batch photos/ clips/ --output out/ --engine ray               # mien.batch.run_batch(...)
    mien me-sheet CASME2-coding.xlsx -o casme2.csv --frames CASME2/    # mien.datasets.me_sheets / me_layouts
    mien models                                                        # mien.list_models()
    mien demo                                                          # analyze sample media
    mien --version

Exit codes: 0 all inputs analysed, 1 at least one input failed (see the ``error`` column), 2 bad usage,
3 an output could not be written or mien itself failed, 130 interrupted (finished inputs are kept).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

from mien.config import DEFAULT_EXPRESSION

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _add_analyze_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, help="table to write (.csv, .jsonl, .json or .parquet); default: CSV on stdout")
    parser.add_argument("--format", choices=["csv", "jsonl", "json", "parquet"], help="output format if not given by the suffix")
    parser.add_argument("--schema", choices=["mien", "openface", "pyfeat"], default="mien", help="column names")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted --output (CSV/JSON lines): skip inputs already in it")
    parser.add_argument("--overlay", type=Path, metavar="DIR",
                        help="write each image with boxes and labels drawn into DIR, as NAME.overlay.jpg "
                             "(DIR must hold no input and lie outside the folders analysed)")
    parser.add_argument("--whole-image", action="store_true", help="skip detection: each image is one cropped face")
    parser.add_argument("--detector", default="retinaface", help="registered detector (see 'mien models')")
    parser.add_argument("--det-threshold", type=float, help="minimum face score in [0, 1] (default 0.8)")
    parser.add_argument("--det-max-size", type=int, help="long side images are shrunk to for detection (default 640)")
    parser.add_argument("--expression", default=DEFAULT_EXPRESSION, help="registered expression model or .onnx path")
    parser.add_argument("--landmarks", choices=["mesh", "mesh468", "dlib68"],
                        help="mesh: 468-point face mesh + iris (shipped) -> 68 iBUG landmarks, eye openness, head pose "
                             "from the mesh (+ OpenFace's pose_T*/pose_R*) and gaze; mesh468: also the 468 points; "
                             "dlib68: 68 iBUG landmarks and eye openness from dlib (needs: pip install 'mien[landmarks]')")
    parser.add_argument("--batch-size", type=int, default=16, help="images whose faces are classified together (default 16)")
    parser.add_argument("--threads", type=int, help="CPU threads per model (default: all cores, at most 8)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--pages", choices=["first", "all"], default="first", help="multi-page TIFF: first page or all")
    parser.add_argument("--max-pixels", type=int, default=100_000_000, help="refuse larger images (default 100 MP)")
    parser.add_argument("--csv-formula-guard", action=argparse.BooleanOptionalAction, default=True,
                        help="CSV: prefix ' to text starting with = + - @ so spreadsheets do not run it as a "
                             "formula (default: on; --no-csv-formula-guard writes text as it is)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def build_parser() -> argparse.ArgumentParser:
    from mien import __version__

    parser = argparse.ArgumentParser(prog="mien", description="Facial expression analysis, offline and fast on CPU.")
    parser.add_argument("--version", action="version", version=f"mien {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    analyze = verbs.add_parser("analyze", help="faces, landmarks and expressions in images")
    analyze.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    _add_analyze_options(analyze)

    video = verbs.add_parser("video", help="tracked faces and expressions over time in videos")
    video.add_argument("paths", nargs="+", help="video files, folders (searched recursively) or glob patterns")
    _add_analyze_options(video)
    sampling = video.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, default=1, help="analyse every N-th frame")
    sampling.add_argument("--fps", type=float, help="analyse at most F frames per second")
    video.add_argument("--start", type=float, default=0.0, help="first second to analyse")
    video.add_argument("--end", type=float, help="second to stop at")
    video.add_argument("--detect-every", type=int, default=1,
                       help="full detection every K analysed frames, tracked faces re-found in between (default 1)")
    video.add_argument("--smooth", type=float, default=0.3, help="smoothing time constant in seconds, 0 = off")
    video.add_argument("--max-missed", type=float, default=1.0, help="seconds a face may be missed and keep its track")
    video.add_argument("--summary", type=Path, help="per-track summary table (default: <output>_summary.csv)")
    video.add_argument("--plots", type=Path, metavar="DIR", help="timeline PNG per track (needs matplotlib)")
    video.add_argument("--anonymize", choices=["blur", "pixelate", "box"], help="obscure faces in the overlay")
    video.add_argument("--no-crops", action="store_true", help="guarantee that no pixel of the input is written")

    live = verbs.add_parser("live", help="analyse a camera, stream or file as it plays")
    live.add_argument("--source", default="0", help="webcam index (0), stream URL (rtsp://...) or video file")
    live.add_argument("--output", "-o", type=Path, help="rows to write (.csv or .jsonl)")
    live.add_argument("--overlay", type=Path, help="annotated video to write (.mp4)")
    live.add_argument("--display", choices=["auto", "yes", "no"], default="auto", help="show a window (auto: if a display exists)")
    live.add_argument("--anonymize", choices=["blur", "pixelate", "box"], help="obscure faces in the window and overlay")
    live.add_argument("--max-frames", type=int, help="stop after N frames")
    live.add_argument("--detect-every", type=int, default=1)
    live.add_argument("--smooth", type=float, default=0.3)
    live.add_argument("--threads", type=int)
    live.add_argument("--quiet", "-q", action="store_true")

    convert = verbs.add_parser("convert", help="read OpenFace, py-feat, iMotions or Affectiva output into mien's schema")
    convert.add_argument("path", type=Path, help="the other tool's output file")
    convert.add_argument("--output", "-o", type=Path, required=True, help=".csv, .jsonl, .json or .parquet")
    convert.add_argument("--from", dest="source_format", choices=["openface", "pyfeat", "imotions", "affectiva"],
                         help="the tool that wrote it (default: recognised from the content)")

    me_sheet = verbs.add_parser("me-sheet", help="read a micro-expression coding sheet (CASME II, SAMM, SMIC, "
                                "CAS(ME)^2/^3, SAMM Long Videos) into a table; check its frame folders")
    me_sheet.add_argument("sheet", type=Path, help="the dataset's .xlsx coding sheet (format recognised)")
    me_sheet.add_argument("--output", "-o", type=Path, required=True, help=".csv, .jsonl or .json")
    me_sheet.add_argument("--frames", type=Path, metavar="ROOT",
                          help="dataset folder: add each sample's frame count and onset/apex/offset files")
    me_sheet.add_argument("--layout", choices=["rawpic", "selectedpic", "cropped"], help="CAS(ME)^2 frame layout")

    evaluate = verbs.add_parser("evaluate", help="measure a model on a labelled dataset")
    evaluate.add_argument("task", choices=["expression", "au", "va", "micro"],
                          help="au: AU detection on DISFA or BP4D frames; va: valence/arousal CCC on AffectNet or "
                               "AFEW-VA; micro: leave-one-subject-out training "
                               "and scoring on MEGC2019 (train extra)")
    evaluate.add_argument("--dataset",
                          help="ferplus, fer2013-csv, fer2013-folders, ckplus, rafdb, affectnet or imagefolder; "
                               "megc2019 for micro")
    evaluate.add_argument("--root", type=Path, required=True, help="the dataset's folder (or fer2013.csv)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--classes", choices=["8", "7"], default="8", help="7: without contempt (FER2013 protocol)")
    evaluate.add_argument("--input", choices=["detect", "whole-image", "framed"], default="detect",
                          help="detect on the image as it is, treat it as the face, or paste it into a 640x480 frame")
    evaluate.add_argument("--background", type=Path, help="photo without faces for --input framed")
    evaluate.add_argument("--calibrate-on", metavar="SPLIT", help="fit the temperature on this split (e.g. valid)")
    evaluate.add_argument("--expression", default=DEFAULT_EXPRESSION)
    evaluate.add_argument("--output", "-o", type=Path, help="metrics JSON")
    evaluate.add_argument("--confusion", type=Path, help="confusion matrix PNG (needs matplotlib)")
    evaluate.add_argument("--limit", type=int, help="only the first N samples (quick checks)")
    evaluate.add_argument("--threads", type=int)
    evaluate.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="micro: repeat LOSO per seed")
    evaluate.add_argument("--fold", type=int, choices=[1, 2, 3], help="au: the 3-fold protocol's test subjects")

    for verb, help_text in (("train", "train a model (PyTorch; see python -m mien.train.expression --help)"),
                            ("export", "export a training checkpoint to ONNX"),
                            ("calibrate", "fit a model's temperature and uncertain threshold on validation data")):
        passthrough = verbs.add_parser(verb, help=help_text, add_help=False)
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)

    from mien.batch.command import add_parser as add_batch_parser

    add_batch_parser(verbs)  # mien batch: mien.batch.run_batch

    from mien.micro.command import add_parser as add_micro_parser

    add_micro_parser(verbs)  # mien micro recognize|spot: mien.micro

    verbs.add_parser("models", help="list registered detectors and models")

    serve = verbs.add_parser("serve", help="REST API and web page (needs the serve extra)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes, each with its own models")
    serve.add_argument("--api-key", help="require this key in the X-API-Key header (default: $MIEN_API_KEY)")
    serve.add_argument("--data-dir", type=Path, default=Path("mien_serve_data"), help="job database and files")
    serve.add_argument("--threads", type=int, help="CPU threads per model")
    serve.add_argument("--max-image-mb", type=float, default=20.0, help="largest image upload (default 20)")
    serve.add_argument("--max-video-mb", type=float, default=500.0, help="largest video upload (default 500)")
    serve.add_argument("--max-pixels", type=int, default=50_000_000, help="refuse larger images (default 50 MP)")
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds per image request (default 30)")
    serve.add_argument("--concurrency", type=int, default=2, help="images analysed at once (default 2)")
    serve.add_argument("--queue-size", type=int, default=16, help="video jobs queued or running before 429")
    serve.add_argument("--keep-uploads", type=float, default=0.0, help="seconds uploads are kept after their job")
    serve.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])

    demo = verbs.add_parser("demo", help="analyse the sample photos that ship with scikit-image")
    demo.add_argument("--out-dir", type=Path, default=Path("demo_out"))
    demo.add_argument("--threads", type=int)
    return parser


def make_analyzer(args: argparse.Namespace):
    from mien.analyzer import Analyzer

    detector_options = {key: value for key, value in (("score_threshold", args.det_threshold),
                                                      ("max_size", args.det_max_size)) if value is not None}
    return Analyzer(detector=args.detector, expression=args.expression, whole_image=args.whole_image,
                    threads=args.threads, device=args.device, batch_size=args.batch_size,
                    max_pixels=args.max_pixels, pages=args.pages, detector_options=detector_options,
                    landmarks=args.landmarks)


class _Rows:
    """Where a verb's rows go: a file (atomic, resumable) or stdout. ``close`` commits what was written."""

    def __init__(self, output: Path | None, fmt: str | None, schema: str, columns: list[str],
                 append: bool = False, formula_guard: bool = True) -> None:
        from mien.io.writers import RowFormatter, TableWriter, format_for

        self.format = format_for(output, fmt) if output else (fmt or "csv")
        if not output and self.format in ("json", "parquet"):
            raise ValueError(f"{self.format} output needs --output FILE (stdout takes csv or jsonl)")
        self.file = (TableWriter(output, columns, self.format, schema, append=append, formula_guard=formula_guard)
                     if output else None)
        self._stdout = None if self.file else RowFormatter(columns, self.format, schema, formula_guard)
        if self._stdout:
            sys.stdout.write(self._stdout.header_text())

    @property
    def resumable(self) -> bool:
        return self.file is not None and self.format in ("csv", "jsonl")

    def write(self, records) -> None:
        if self.file:
            self.file.write(records)
        else:
            sys.stdout.write(self._stdout.rows_text(records)[0])
            sys.stdout.flush()

    def close(self) -> None:
        if self.file:
            self.file.close(commit=True)  # every row written is whole: keep them, whatever happened


def _interrupted(rows: _Rows, what: str) -> int:
    hint = "; rerun with --resume to continue" if rows.resumable else ""
    print(f"\ninterrupted: {what} written{hint}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _inside(path: str, folder: str) -> bool:
    """Whether real path ``path`` lies under real path ``folder`` (not equal to it)."""
    return path != folder and os.path.commonpath([path, folder]) == folder


def check_overlay_target(overlay: Path, inputs: Sequence[str], items: Sequence[str]) -> None:
    """Refuse an ``--overlay`` destination that is an input, holds an input, or lies in a folder being
    analysed (``items``: what the user named): mien never writes over an input, and a later run over the
    same folder must not analyse the overlays."""
    from mien.io.sources import path_kind

    target = os.path.realpath(overlay)
    for path in inputs if os.path.exists(target) else ():  # a destination not yet there holds no input
        source = os.path.realpath(path)
        if source == target or _inside(source, target):
            raise ValueError(f"--overlay {overlay} would write where the input {path} is: overlays never replace "
                             "inputs; choose a destination outside the inputs")
    for item in items:
        folder = os.path.realpath(item)
        if path_kind(item) == "folder" and (target == folder or _inside(target, folder)):
            raise ValueError(f"--overlay {overlay} is inside the input folder {item}: a later run would analyse "
                             "the overlays; choose a destination outside it")


def run_analyze(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.io.writers import prepare_resume

    if not paths:
        print("mien analyze: no input files found", file=sys.stderr)
        return EXIT_USAGE
    if args.resume and not args.output:
        raise ValueError("--resume needs --output")
    if args.resume and args.schema != "mien":
        raise ValueError("--resume needs the default column names (--schema mien)")
    if args.overlay is not None:
        check_overlay_target(args.overlay, paths, args.paths)
    done_before = prepare_resume(args.output, args.format, args.csv_formula_guard) if args.resume else {}
    todo = [p for p in paths if p not in done_before]
    analyzer = make_analyzer(args)
    rows = _Rows(args.output, args.format, args.schema, analyzer.columns, append=args.resume,
                 formula_guard=args.csv_formula_guard)
    failed = faces = done = 0
    progress = _progress(len(todo), args.quiet)
    try:
        for result in analyzer.iter_results(todo, overlay=args.overlay):
            rows.write(result.to_records())
            failed += bool(result.errors)
            faces += len(result)
            done += 1
            for message in result.errors:
                progress.write(f"error: {message}")
            progress.update(1)
    except KeyboardInterrupt:
        progress.close()
        return _interrupted(rows, f"{done} of {len(todo)} inputs")
    finally:
        rows.close()
    progress.close()
    if not args.quiet:
        skipped = f", {len(done_before)} already done" if done_before else ""
        where = f" -> {args.output}" if args.output else ""
        print(f"{done} inputs, {faces} faces, {failed} failed{skipped}{where}", file=sys.stderr)
    return EXIT_INPUT_FAILED if failed else EXIT_OK


class _NoProgress:
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...
    def write(self, text: str) -> None:
        print(text, file=sys.stderr)


def _shows_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _progress(total: int, quiet: bool, unit: str = "img"):
    if not _shows_progress(quiet) or total < 2:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def run_video(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.video.job import VideoOutputs, plan_resume, run_videos, video_columns
    from mien.video.pipeline import VideoOptions

    if not paths:
        print("mien video: no input videos found", file=sys.stderr)
        return EXIT_USAGE
    if args.no_crops and args.overlay:
        raise ValueError("--no-crops writes no pixel of the input: drop --overlay (or drop --no-crops)")
    if args.resume and (not args.output or args.overlay):
        raise ValueError("--resume needs --output, and cannot continue an --overlay video (run without it)")
    if args.overlay is not None:
        check_overlay_target(args.overlay, paths, args.paths)
    options = VideoOptions(args.every, args.fps, args.start, args.end, args.detect_every, args.smooth,
                           args.max_missed)
    plan = plan_resume(args.output, args.format, args.schema, args.csv_formula_guard) if args.resume else None
    summary = args.summary or (args.output.with_name(f"{args.output.stem}_summary.csv") if args.output else None)
    analyzer = make_analyzer(args)
    rows = _Rows(args.output, args.format, args.schema, video_columns(analyzer), append=args.resume,
                 formula_guard=args.csv_formula_guard)
    if plan is not None and rows.file is not None:
        plan.part = rows.file.part  # the rows already written are read back from there while appending
    outputs = VideoOutputs(rows_callback=rows.write, summary=summary, overlay=args.overlay, plots=args.plots,
                           anonymize=args.anonymize)
    total = _frame_estimate(paths, options) if _shows_progress(args.quiet) else 0
    progress = _progress(total, args.quiet, unit="frame")
    try:
        report = run_videos(analyzer, paths, options, outputs, plan, progress)
    except KeyboardInterrupt:
        progress.close()
        return _interrupted(rows, "every frame analysed so far")
    finally:
        rows.close()
    progress.close()
    for message in report.failed.values():
        print(f"error: {message}", file=sys.stderr)
    if not args.quiet:
        where = f" -> {args.output}" if args.output else ""
        print(f"{len(paths)} videos, {report.frames} frames, {report.faces} faces, {len(report.failed)} with errors"
              f"{where}", file=sys.stderr)
    return EXIT_INPUT_FAILED if report.failed else EXIT_OK


def run_live_verb(args: argparse.Namespace) -> int:
    from mien.analyzer import Analyzer
    from mien.video.job import video_columns
    from mien.video.live import has_display, live_frames, run_live
    from mien.video.pipeline import VideoOptions
    from mien.video.writer import VideoWriter

    display = args.display == "yes" or (args.display == "auto" and has_display())
    if not display and not args.output and not args.overlay:
        raise ValueError("no display here: give --output and/or --overlay to keep the results")
    if args.overlay is not None and os.path.isfile(args.source):  # a video file played as a live source
        check_overlay_target(args.overlay, [args.source], [])
    analyzer = Analyzer(threads=args.threads)
    options = VideoOptions(detect_every=args.detect_every, smooth=args.smooth)
    rows = _Rows(args.output, None, "mien", video_columns()) if args.output else None
    overlay = VideoWriter(args.overlay, 25) if args.overlay else None
    try:
        report = run_live(analyzer, live_frames(args.source, args.max_frames), options, rows, overlay, display,
                          args.anonymize)
    finally:
        if rows:
            rows.close()
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


def run_training_verb(verb: str, rest: list[str]) -> int:
    """``mien train expression ...`` / ``mien export ...`` / ``mien calibrate ...``: the training modules'
    own command lines (they need the ``train`` extra)."""
    try:
        if verb == "train":
            if not rest or rest[0] not in ("expression", "micro", "au", "va", "eyes"):
                raise ValueError("usage: mien train expression|au|va|eyes|micro ... --out RUN_DIR [options]")
            if rest[0] == "micro":
                from mien.train.micro import main as entry
            elif rest[0] == "va":
                from mien.train.va import main as entry
            elif rest[0] == "eyes":
                from mien.train.eyes import main as entry
            elif rest[0] == "au":
                from mien.train.au import main as entry
            else:
                from mien.train.expression import main as entry

            rest = rest[1:]
        elif verb == "export":
            from mien.train.export import main as entry
        else:
            from mien.train.calibrate import main as entry
    except ModuleNotFoundError as error:
        raise ImportError(f"mien {verb} needs PyTorch and onnx: pip install 'mien[train]' ({error})") from None
    entry(rest)
    return EXIT_OK


def run_evaluate_au(args: argparse.Namespace) -> int:
    """``mien evaluate au``: :func:`mien.eval.au.run_evaluate_au` (DISFA / BP4D official layouts)."""
    if args.dataset not in ("disfa", "bp4d"):
        raise ValueError("evaluate au needs --dataset disfa or bp4d (CK+ AU scores: benchmarks/bench_au.py, "
                         "subject-grouped folds, since the shipped AU head was trained on all of CK+)")
    from mien.eval.au import run_evaluate_au as evaluate

    evaluate(args.dataset, args.root, args.fold, args.expression, args.threads, args.limit, args.output)
    return EXIT_OK


def run_evaluate_va(args: argparse.Namespace) -> int:
    """``mien evaluate va``: :func:`mien.eval.va.evaluate_va_dataset` on AffectNet (``--split valid``) or AFEW-VA."""
    import json

    from mien.analyzer import Analyzer
    from mien.datasets.va_layouts import read_va_dataset
    from mien.eval.va import evaluate_va_dataset

    if args.dataset not in ("affectnet", "afew-va"):
        raise ValueError("evaluate va needs --dataset affectnet or afew-va")
    split = ("valid" if args.split == "test" else args.split) if args.dataset == "affectnet" else None
    samples = read_va_dataset(args.dataset, args.root, split)
    report = evaluate_va_dataset(Analyzer(expression=args.expression, threads=args.threads), samples, args.limit)
    report.update(dataset=args.dataset, split=split)
    print(f"{args.dataset} ({report['images']} images, {report['faces_not_found']} without a face; method "
          f"{report['method']}): valence CCC {report['valence']['ccc']:.3f} RMSE {report['valence']['rmse']:.3f}, "
          f"arousal CCC {report['arousal']['ccc']:.3f} RMSE {report['arousal']['rmse']:.3f}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    return EXIT_OK


def run_evaluate_micro(args: argparse.Namespace) -> int:
    """``mien evaluate micro``: :func:`mien.train.micro.evaluate_loso` (MEGC2019 composite protocol)."""
    if args.dataset not in (None, "megc2019"):
        raise ValueError(f"micro evaluation reads the MEGC2019 composite layout, not {args.dataset!r}")
    from mien.train.micro import evaluate_loso

    evaluate_loso(args.root, args.seeds, args.output, threads=args.threads or 1)
    return EXIT_OK


def run_evaluate(args: argparse.Namespace) -> int:
    if args.dataset is None:
        raise ValueError("evaluate expression needs --dataset")
    import json

    import numpy as np

    from mien.analyzer import Analyzer
    from mien.datasets.layouts import read_dataset
    from mien.eval.expression import expression_report, predict_samples
    from mien.eval.metrics import fit_temperature
    from mien.schema import EXPRESSIONS

    class_names = [c for c in EXPRESSIONS if args.classes == "8" or c != "contempt"]
    analyzer = Analyzer(expression=args.expression, whole_image=args.input == "whole-image", threads=args.threads)
    background = None
    if args.input == "framed":
        if args.background is None:
            raise ValueError("--input framed needs --background PHOTO (a photo without faces)")
        from mien.io.images import read_image

        background = read_image(args.background)

    def labelled(split: str):
        samples = [s for s in read_dataset(args.dataset, args.root, split)
                   if s.label >= 0 and EXPRESSIONS[s.label] in class_names][: args.limit]
        labels = np.array([class_names.index(EXPRESSIONS[s.label]) for s in samples])
        return samples, labels

    if args.calibrate_on == args.split:
        raise ValueError("--calibrate-on must name another split than the one evaluated")
    model_temperature = analyzer.expression.temperature
    temperature = None
    if args.calibrate_on:  # refit from the raw network output, whatever the model shipped with
        analyzer.expression.temperature = 1.0
        samples, labels = labelled(args.calibrate_on)
        probabilities = predict_samples(analyzer, samples, args.input, background)
        found = ~np.isnan(probabilities).any(axis=1)
        columns = [EXPRESSIONS.index(c) for c in class_names]
        restricted = probabilities[found][:, columns]
        temperature = fit_temperature(restricted / restricted.sum(1, keepdims=True), labels[found])
    samples, labels = labelled(args.split)
    report = expression_report(predict_samples(analyzer, samples, args.input, background), labels, class_names,
                               temperature)
    report.update(dataset=args.dataset, split=args.split, input=args.input, expression_model=args.expression,
                  model_temperature=model_temperature, calibrated_on=args.calibrate_on)
    print(f"{args.dataset} {args.split} ({report['n']} faces, {args.input}): accuracy {report['accuracy']:.4f}, "
          f"UAR {report['uar']:.4f}, macro-F1 {report['macro_f1']:.4f}, not found {report['faces_not_found']}, "
          f"ECE {report['ece']:.4f}" + (f" -> {report['ece_calibrated']:.4f} at T={temperature:.2f}" if temperature else ""))
    for name, row in report["per_class"].items():
        print(f"  {name:9s} recall {row['recall']:.3f}  precision {row['precision']:.3f}  f1 {row['f1']:.3f}  n={row['support']}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    if args.confusion:
        from mien.viz.confusion import plot_confusion

        plot_confusion(np.array(report["confusion"]), class_names, args.confusion,
                       f"{args.dataset} {args.split}, {args.expression}")
    return EXIT_OK


def _frame_estimate(paths: list[str], options) -> int:
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


def run_serve(args: argparse.Namespace) -> int:
    """``mien serve``: :func:`mien.serve.serve` with the limits given on the command line."""
    import os

    try:
        from mien.serve.app import ServeConfig, serve
    except ModuleNotFoundError as error:
        raise ImportError(f"mien serve needs FastAPI and uvicorn: pip install 'mien[serve]' ({error})") from None
    from mien.serve.limits import MB, Limits

    limits = Limits(max_image_bytes=int(args.max_image_mb * MB), max_video_bytes=int(args.max_video_mb * MB),
                    max_pixels=args.max_pixels, request_timeout=args.timeout, analyze_concurrency=args.concurrency,
                    max_queued_jobs=args.queue_size, keep_uploads=args.keep_uploads)
    config = ServeConfig(data_dir=args.data_dir, api_key=args.api_key or os.environ.get("MIEN_API_KEY") or None,
                         limits=limits, threads=args.threads, cors_origins=tuple(args.cors_origin))
    serve(config, args.host, args.port, args.workers, args.log_level)
    return EXIT_OK


def run_me_sheet(args: argparse.Namespace) -> int:
    """``mien me-sheet``: :func:`~mien.datasets.me_sheets.read_coding_sheet` written as a table; with
    ``--frames``, :func:`~mien.datasets.me_layouts.load_sequences` adds the frames found (exit 1 if some
    samples have none)."""
    import warnings

    from mien.datasets import me_layouts, me_sheets
    from mien.io.writers import TableWriter, format_for

    if format_for(args.output) == "parquet":  # the writer's Parquet types are those of mien's own columns
        print("mien me-sheet: write .csv, .jsonl or .json (read it into pandas with me_sheets.to_frame)",
              file=sys.stderr)
        return EXIT_USAGE
    try:  # an unreadable sheet or a dataset folder without the layout is an input failure
        samples = me_sheets.read_coding_sheet(args.sheet)
        columns, records, skipped = list(me_sheets.FRAME_COLUMNS), me_sheets.to_records(samples), []
        if args.frames:
            with warnings.catch_warnings(record=True) as skipped:
                warnings.simplefilter("always", me_layouts.MissingFramesWarning)
                sequences = me_layouts.load_sequences(args.frames, samples, layout=args.layout)
            columns, records = list(me_layouts.SEQUENCE_COLUMNS), me_layouts.sequence_records(samples, sequences)
    except (ValueError, FileNotFoundError) as error:
        print(f"mien me-sheet: {error}", file=sys.stderr)
        return EXIT_INPUT_FAILED
    with TableWriter(args.output, columns) as writer:
        writer.write(records)
    for warning in skipped:
        print(f"mien me-sheet: {warning.message}", file=sys.stderr)
    found = f", frames found for {len(samples) - len(skipped)}" if args.frames else ""
    print(f"{args.sheet}: {len(samples)} samples{found} -> {args.output}", file=sys.stderr)
    return EXIT_INPUT_FAILED if skipped else EXIT_OK


def run_models() -> int:
    from mien.registry import list_models

    rows = [(s.name, s.task, "dynamic" if s.input_size is None else "x".join(map(str, s.input_size)),
             f"{s.size_mb:.1f} MB", s.licence, s.description) for s in list_models()]
    header = ("name", "task", "input", "size", "licence", "description")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row[:5], widths)) + "  " + row[5])
    return EXIT_OK


def demo_inputs() -> list[str]:
    """Sample photos shipped inside scikit-image: two with faces, one cat (no face)."""
    try:
        import skimage
    except ImportError:
        raise SystemExit("mien demo needs scikit-image for its sample photos: pip install 'mien[demo]'") from None
    folder = Path(skimage.__file__).parent / "data"
    return [str(folder / name) for name in ("astronaut.png", "camera.png", "chelsea.png")]


def run_demo(args: argparse.Namespace) -> int:
    parser = build_parser()
    out = args.out_dir
    analyze_args = parser.parse_args(["analyze", "--output", str(out / "results.csv"), "--overlay", str(out / "overlay")]
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("train", "export", "calibrate"):  # their own parsers take every option
        try:
            return run_training_verb(argv[0], argv[1:])
        except (ValueError, ImportError, FileNotFoundError) as error:
            print(f"mien {argv[0]}: {error}", file=sys.stderr)
            return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        from mien.options import check_namespace

        check_namespace(args)  # every numeric option in its range, before anything is read or written
        if args.verb == "analyze":
            from mien.io.sources import expand_inputs

            return run_analyze(args, expand_inputs(args.paths))
        if args.verb == "video":
            from mien.io.sources import expand_inputs
            from mien.video.reader import VIDEO_EXTENSIONS

            return run_video(args, expand_inputs(args.paths, VIDEO_EXTENSIONS))
        if args.verb in ("train", "export", "calibrate"):
            return run_training_verb(args.verb, args.rest)
        if args.verb == "convert":
            from mien.io.readers import read, write_converted

            table = read(args.path, args.source_format)
            write_converted(table, args.output)
            print(f"{args.path} ({table.attrs['source_tool']}): {len(table)} rows -> {args.output}", file=sys.stderr)
            return EXIT_OK
        if args.verb == "me-sheet":
            return run_me_sheet(args)
        if args.verb == "evaluate":
            if args.task == "au":
                return run_evaluate_au(args)
            if args.task == "va":
                return run_evaluate_va(args)
            return run_evaluate_micro(args) if args.task == "micro" else run_evaluate(args)
        if args.verb == "micro":
            from mien.micro.command import run as run_micro_verb

            return run_micro_verb(args)
        if args.verb == "live":
            return run_live_verb(args)
        if args.verb == "batch":
            from mien.batch.command import run as run_batch_verb

            return run_batch_verb(args)
        if args.verb == "models":
            return run_models()
        if args.verb == "serve":
            return run_serve(args)
        if args.verb == "demo":
            return run_demo(args)
    except (ValueError, KeyError, FileNotFoundError, ImportError) as error:
        print(f"mien {args.verb}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"mien {args.verb}: cannot write output: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:
        traceback.print_exc()
        print(f"mien {args.verb}: internal error (please report it with the traceback above)", file=sys.stderr)
        return EXIT_ERROR
    parser.error(f"unknown verb {args.verb}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
