"""The ``mien`` command. Each verb is a thin layer over the Python API of the same name.

    mien analyze photos/ --output results.csv --overlay annotated/    # Analyzer().analyze(...)
    mien models                                                        # mien.list_models()
    mien demo                                                          # analyze sample media
    mien --version

Exit codes: 0 all inputs analysed, 1 at least one input failed (see the ``error`` column), 2 bad usage,
130 interrupted (rows finished before Ctrl-C are kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _add_analyze_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, help="table to write (.csv, .jsonl or .parquet); default: CSV on stdout")
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet"], help="output format if not given by the suffix")
    parser.add_argument("--schema", choices=["mien", "openface", "pyfeat"], default="mien", help="column names")
    parser.add_argument("--overlay", type=Path, metavar="DIR", help="write each image with boxes and labels drawn into DIR")
    parser.add_argument("--whole-image", action="store_true", help="skip detection: each image is one cropped face")
    parser.add_argument("--detector", default="retinaface", help="registered detector (see 'mien models')")
    parser.add_argument("--expression", default="mnv2-ferplus", help="registered expression model or .onnx path")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
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


def _overlay_names(paths: Sequence[str]) -> dict[str, str]:
    """Overlay file name for each input: its path relative to the inputs' common folder, as .jpg."""
    real = [os.path.abspath(p) for p in paths]
    try:
        common = os.path.commonpath([os.path.dirname(p) for p in real]) if real else ""
    except ValueError:  # different drives
        common = ""
    return {p: str(Path(os.path.relpath(r, common) if common else Path(r).name).with_suffix(".jpg"))
            for p, r in zip(paths, real)}


def run_analyze(args: argparse.Namespace, paths: list[str]) -> int:
    from mien.analyzer import Analyzer
    from mien.io.writers import TableWriter
    from mien.result import Result
    from mien.viz.draw import draw_faces, save_image

    if not paths:
        print("mien analyze: no input files found", file=sys.stderr)
        return EXIT_USAGE
    analyzer = Analyzer(detector=args.detector, expression=args.expression, whole_image=args.whole_image,
                        threads=args.threads, device=args.device, batch_size=args.batch_size,
                        max_pixels=args.max_pixels, pages=args.pages)
    overlay_names = _overlay_names(paths) if args.overlay else {}
    columns = Result().columns()
    output = args.output
    writer = TableWriter(output, columns, args.format, args.schema) if output else None
    stdout_header = True
    failed, faces, done = 0, 0, 0
    progress = _progress(len(paths), args.quiet)
    try:
        for result, frames in analyzer.stream(paths):
            if writer:
                writer.write(result.to_records())
            else:
                text = result.to_csv(schema=args.schema)
                sys.stdout.write(text if stdout_header else text.split("\n", 1)[1])
                sys.stdout.flush()
                stdout_header = False
            failed += bool(result.errors)
            faces += len(result)
            done += 1
            for message in result.errors:
                _report(progress, f"error: {message}")
            if args.overlay:
                for row, frame in enumerate(frames):
                    if frame.image is None:
                        continue
                    name = overlay_names.get(frame.source, Path(frame.source).name + ".jpg")
                    if len(frames) > 1:
                        name = str(Path(name).with_name(f"{Path(name).stem}_p{frame.index}.jpg"))
                    save_image(args.overlay / name, draw_faces(frame.image, result, row))
            progress.update(1)
    except KeyboardInterrupt:
        progress.close()
        if writer:
            writer.close(commit=True)
        print(f"\ninterrupted: {done} of {len(paths)} inputs written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException:
        if writer:
            writer.close(commit=False)
        raise
    progress.close()
    if writer:
        writer.close(commit=True)
    if not args.quiet:
        where = f" -> {output}" if output else ""
        print(f"{done} inputs, {faces} faces, {failed} failed{where}", file=sys.stderr)
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


def _report(progress, message: str) -> None:
    progress.write(message)


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
    parser.error(f"unknown verb {args.verb}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
