"""The ``mien`` command. Each verb is a thin layer over the Python API of the same name.

    mien analyze photos/ --output results.csv --overlay annotated/    # Analyzer().analyze(...)
    mien models                                                        # mien.list_models()
    mien demo                                                          # analyze sample media
    mien --version

Exit codes: 0 all inputs analysed, 1 at least one input failed (see the ``error`` column), 2 bad usage,
3 an output could not be written or mien itself failed, 130 interrupted (finished inputs are kept).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _add_analyze_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, help="table to write (.csv, .jsonl, .json or .parquet); default: CSV on stdout")
    parser.add_argument("--format", choices=["csv", "jsonl", "json", "parquet"], help="output format if not given by the suffix")
    parser.add_argument("--schema", choices=["mien", "openface", "pyfeat"], default="mien", help="column names")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted --output (CSV/JSON lines): skip inputs already in it")
    parser.add_argument("--overlay", type=Path, metavar="DIR", help="write each image with boxes and labels drawn into DIR")
    parser.add_argument("--whole-image", action="store_true", help="skip detection: each image is one cropped face")
    parser.add_argument("--detector", default="retinaface", help="registered detector (see 'mien models')")
    parser.add_argument("--det-threshold", type=float, help="minimum face score in [0, 1] (default 0.8)")
    parser.add_argument("--det-max-size", type=int, help="long side images are shrunk to for detection (default 640)")
    parser.add_argument("--expression", default="mnv2-ferplus", help="registered expression model or .onnx path")
    parser.add_argument("--batch-size", type=int, default=16, help="images whose faces are classified together (default 16)")
    parser.add_argument("--threads", type=int, help="CPU threads per model (default: all cores, at most 8)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--pages", choices=["first", "all"], default="first", help="multi-page TIFF: first page or all")
    parser.add_argument("--max-pixels", type=int, default=100_000_000, help="refuse larger images (default 100 MP)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def build_parser() -> argparse.ArgumentParser:
    from mien import __version__

    parser = argparse.ArgumentParser(prog="mien", description="Facial expression analysis, offline and fast on CPU.")
    parser.add_argument("--version", action="version", version=f"mien {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    analyze = verbs.add_parser("analyze", help="faces, landmarks and expressions in images")
    analyze.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    _add_analyze_options(analyze)

    verbs.add_parser("models", help="list registered detectors and models")

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
                    max_pixels=args.max_pixels, pages=args.pages, detector_options=detector_options)


def run_analyze(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.io.writers import RowFormatter, TableWriter, format_for, prepare_resume

    if not paths:
        print("mien analyze: no input files found", file=sys.stderr)
        return EXIT_USAGE
    fmt = format_for(args.output, args.format) if args.output else (args.format or "csv")
    if not args.output and fmt in ("json", "parquet"):
        raise ValueError(f"{fmt} output needs --output FILE (stdout takes csv or jsonl)")
    if args.resume and not args.output:
        raise ValueError("--resume needs --output")
    done_before = prepare_resume(args.output, fmt) if args.resume else set()
    todo = [p for p in paths if p not in done_before]
    analyzer = make_analyzer(args)
    writer = TableWriter(args.output, analyzer.columns, fmt, args.schema, append=args.resume) if args.output else None
    stdout = None if writer else RowFormatter(analyzer.columns, fmt, args.schema)
    if stdout:
        sys.stdout.write(stdout.header_text())
    failed = faces = done = 0
    progress = _progress(len(todo), args.quiet)
    try:
        for result in analyzer.iter_results(todo, overlay=args.overlay):
            if writer:
                writer.write(result.to_records())
            else:
                sys.stdout.write(stdout.rows_text(result.to_records())[0])
                sys.stdout.flush()
            failed += bool(result.errors)
            faces += len(result)
            done += 1
            for message in result.errors:
                progress.write(f"error: {message}")
            progress.update(1)
    except KeyboardInterrupt:
        progress.close()
        if writer:
            writer.close(commit=True)
        hint = f"; rerun with --resume to continue" if writer and fmt in ("csv", "jsonl") else ""
        print(f"\ninterrupted: {done} of {len(todo)} inputs written{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException:
        if writer:
            writer.close(commit=True)  # rows of completed inputs are whole: keep them
        raise
    progress.close()
    if writer:
        writer.close(commit=True)
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


def _progress(total: int, quiet: bool):
    if quiet or total < 2 or not sys.stderr.isatty():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)


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
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table[shown].to_string(index=False))
    print(f"\ntable: {out / 'results.csv'}\noverlays: {out / 'overlay'}/")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.verb == "analyze":
            from mien.io.sources import expand_inputs

            return run_analyze(args, expand_inputs(args.paths))
        if args.verb == "models":
            return run_models()
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
