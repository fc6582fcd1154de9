"""The ``mien`` command: argument parsing and exit codes only. Each verb group is one module of this package
and calls the application layer (:mod:`mien.workflows`, :mod:`mien.batch`, :mod:`mien.serve`, :mod:`mien.eval`,
:mod:`mien.train`) or the library.

    mien analyze photos/ --output results.csv --overlay annotated/    # mien.workflows.images
    mien video clip.mp4 --output frames.csv --overlay clip_annotated.mp4   # mien.workflows.video
    mien batch photos/ clips/ --output out/ --engine ray               # mien.batch.run_batch(...)
    mien me-sheet CASME2-coding.xlsx -o casme2.csv --frames CASME2/    # mien.datasets.me_sheets / me_layouts
    mien models                                                        # mien.list_models()
    mien demo                                                          # analyze sample media
    mien --version

The analyzer options (``--detector``, ``--expression``, ``--landmarks``, ...) are one shared group built
from :class:`mien.AnalyzerConfig` (:mod:`mien.cli.common`); every flag defaults to None, so the defaults are
those written in :mod:`mien.config`.

Exit codes: 0 all inputs analysed, 1 at least one input failed (see the ``error`` column), 2 bad usage,
3 an output could not be written or mien itself failed, 130 interrupted (finished inputs are kept).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable, Sequence

from mien.cli import analyze, batch, evaluate, live, micro, serve, tools, train
from mien.cli.common import (EXIT_ERROR, EXIT_INPUT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError,
                             analyzer_config, build_analyzer)

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_INPUT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE",
           "UsageError", "analyzer_config", "build_analyzer", "build_parser", "main"]

# verb -> handler(args) -> exit code, in the order `mien --help` lists them
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "analyze": analyze.run_analyze_verb,
    "video": analyze.run_video_verb,
    "live": live.run,
    "convert": tools.run_convert,
    "me-sheet": tools.run_me_sheet,
    "evaluate": evaluate.run,
    "train": train.run,
    "export": train.run,
    "calibrate": train.run,
    "batch": batch.run,
    "micro": micro.run,
    "models": tools.run_models,
    "serve": serve.run,
    "demo": analyze.run_demo,
}

# what adds the verbs' parsers, in the order of `mien --help`
_PARSERS = (analyze.add_parsers, live.add_parsers, tools.add_parsers, evaluate.add_parsers, train.add_parsers,
            batch.add_parsers, micro.add_parsers, tools.add_models_parser, serve.add_parsers, analyze.add_demo_parser)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb (also used to generate the CLI reference)."""
    from mien import __version__

    parser = argparse.ArgumentParser(prog="mien", description="Facial expression analysis, offline and fast on CPU.")
    parser.add_argument("--version", action="version", version=f"mien {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for add_parsers in _PARSERS:
        add_parsers(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        from mien.options import check_namespace

        check_namespace(args)  # every numeric option in its range, before anything is read or written
        return COMMANDS[args.verb](args)
    except (ValueError, FileNotFoundError, ImportError) as error:  # UsageError is a ValueError
        print(f"mien {args.verb}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"mien {args.verb}: cannot write output: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception:
        traceback.print_exc()
        print(f"mien {args.verb}: internal error (please report it with the traceback above)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
