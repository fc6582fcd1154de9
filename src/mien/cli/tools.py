"""``mien convert``, ``mien me-sheet`` and ``mien models``: other tools' outputs, coding sheets, the registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mien.cli.common import EXIT_INPUT_FAILED, EXIT_OK, EXIT_USAGE, add_overwrite_option, check_output_targets


def add_parsers(verbs) -> None:
    convert = verbs.add_parser("convert", help="read OpenFace, py-feat, iMotions or Affectiva output into mien's schema")
    convert.add_argument("path", type=Path, help="the other tool's output file")
    convert.add_argument("--output", "-o", type=Path, required=True, help=".csv, .jsonl, .json or .parquet")
    convert.add_argument("--from", dest="source_format", choices=["openface", "pyfeat", "imotions", "affectiva"],
                         help="the tool that wrote it (default: recognised from the content)")
    add_overwrite_option(convert)

    me_sheet = verbs.add_parser("me-sheet", help="read a micro-expression coding sheet (CASME II, SAMM, SMIC, "
                                "CAS(ME)^2/^3, SAMM Long Videos) into a table; check its frame folders")
    me_sheet.add_argument("sheet", type=Path, help="the dataset's .xlsx coding sheet (format recognised)")
    me_sheet.add_argument("--output", "-o", type=Path, required=True, help=".csv, .jsonl or .json")
    me_sheet.add_argument("--frames", type=Path, metavar="ROOT",
                          help="dataset folder: add each sample's frame count and onset/apex/offset files")
    me_sheet.add_argument("--layout", choices=["rawpic", "selectedpic", "cropped"], help="CAS(ME)^2 frame layout")
    add_overwrite_option(me_sheet)



def add_models_parser(verbs) -> None:
    verbs.add_parser("models", help="list registered detectors and models")


def run_convert(args: argparse.Namespace) -> int:
    from mien.io.readers import read, write_converted
    from mien.io.writers import format_for

    check_output_targets({"--output": args.output}, [str(args.path)], args.overwrite)
    format_for(args.output)  # a name without a table suffix is refused before the input is read
    table = read(args.path, args.source_format)
    write_converted(table, args.output)
    print(f"{args.path} ({table.attrs['source_tool']}): {len(table)} rows -> {args.output}", file=sys.stderr)
    return EXIT_OK


def run_me_sheet(args: argparse.Namespace) -> int:
    """``mien me-sheet``: :func:`~mien.datasets.me_sheets.read_coding_sheet` written as a table; with
    ``--frames``, :func:`~mien.datasets.me_layouts.load_sequences` adds the frames found (exit 1 if some
    samples have none)."""
    import warnings

    from mien.datasets import me_layouts, me_sheets
    from mien.io.writers import format_for, write_whole_table

    check_output_targets({"--output": args.output}, [str(args.sheet)], args.overwrite)
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
    write_whole_table(args.output, columns, records)
    for warning in skipped:
        print(f"mien me-sheet: {warning.message}", file=sys.stderr)
    found = f", frames found for {len(samples) - len(skipped)}" if args.frames else ""
    print(f"{args.sheet}: {len(samples)} samples{found} -> {args.output}", file=sys.stderr)
    return EXIT_INPUT_FAILED if skipped else EXIT_OK


def run_models(args: argparse.Namespace | None = None) -> int:
    """The registry as a table on stdout (where each model comes from: built-in or an installed plugin);
    plugins that failed to load are named on stderr, the rest is listed as usual."""
    import warnings

    from mien.registry import PluginWarning, list_models, origin

    with warnings.catch_warnings(record=True) as broken:
        warnings.simplefilter("always", PluginWarning)
        specs = list_models()
    rows = [(s.name, s.task, origin(s.name), "dynamic" if s.input_size is None else "x".join(map(str, s.input_size)),
             f"{s.size_mb:.1f} MB", s.licence, s.description) for s in specs]
    header = ("name", "task", "from", "input", "size", "licence", "description")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths)) + "  " + row[-1])
    for warning in broken:
        if issubclass(warning.category, PluginWarning):
            print(f"mien models: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return EXIT_OK
