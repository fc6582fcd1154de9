"""``mien train``, ``mien export`` and ``mien calibrate``: the training command lines (PyTorch; the
``train`` extra). Their options are parsed by the trainers' own parsers, so every option reaches them."""

from __future__ import annotations

import argparse

from mien.cli.common import EXIT_OK, UsageError

TRAINERS = ("expression", "micro", "au", "va", "eyes")
TRAINING_VERBS = ("train", "export", "calibrate")


def add_parsers(verbs) -> None:
    for verb, help_text in (("train", "train a model (PyTorch; see mien train expression --help)"),
                            ("export", "export a training checkpoint to ONNX"),
                            ("calibrate", "fit a model's temperature and uncertain threshold on validation data")):
        passthrough = verbs.add_parser(verb, help=help_text, add_help=False)
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)


def _entry(verb: str, rest: list[str]):
    import importlib

    if verb == "train":
        if not rest or rest[0] not in TRAINERS:
            raise UsageError("usage: mien train expression|au|va|eyes|micro ... --out RUN_DIR [options]")
        return importlib.import_module(f"mien.train.{rest[0]}").main, rest[1:]
    return importlib.import_module(f"mien.train.{verb}").main, rest


def run_training_verb(verb: str, rest: list[str]) -> int:
    """``mien train expression ...`` / ``mien export ...`` / ``mien calibrate ...``."""
    try:
        entry, rest = _entry(verb, rest)
    except ModuleNotFoundError as error:
        raise ImportError(f"mien {verb} needs PyTorch and onnx: pip install 'mien[train]' ({error})") from None
    entry(rest)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_training_verb(args.verb, args.rest)
