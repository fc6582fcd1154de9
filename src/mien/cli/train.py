"""``mien train``, ``mien export`` and ``mien calibrate``: the training command lines (PyTorch; the
``train`` extra). Their options are parsed by the trainers' own parsers, so every option reaches them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

from mien.cli.common import EXIT_OK, UsageError

TRAINERS = ("expression", "micro", "au", "va", "eyes")
TRAINING_VERBS = ("train", "export", "calibrate")


def add_parsers(verbs) -> None:
    for verb, help_text in (("train", "train a model (PyTorch; see mien train expression --help)"),
                            ("export", "export a training checkpoint to ONNX"),
                            ("calibrate", "fit a model's temperature and uncertain threshold on validation data")):
        passthrough = verbs.add_parser(verb, help=help_text, add_help=False)
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)


def expression_parser() -> argparse.ArgumentParser:
    """``mien train expression``: the fields of :class:`mien.train.expression.ExpressionConfig` (unset: its
    defaults)."""
    parser = argparse.ArgumentParser(prog="mien train expression",
                                     description="Train an expression model on FER+, FER2013 or CK+.")
    add = parser.add_argument
    add("--dataset", choices=["ferplus", "fer2013", "ckplus"],
        help="ferplus: vote distributions (default); fer2013: the original 7-class labels of the same images "
             "(select on PublicTest); ckplus: CK+48 subject-grouped folds")
    add("--root", type=Path, required=True, help="dataset root (FER+ root, or the CK+ folder)")
    add("--out", type=Path, required=True, help="run folder for checkpoints and logs")
    add("--landmarks", type=Path, help="npz from mien.train.ferplus_landmarks")
    add("--backbone", help="(default mobilenetv2)")
    add("--size", type=int, help="crop size in pixels (default 64)")
    add("--epochs", type=int, help="(default 15)")
    add("--batch-size", type=int, help="(default 64)")
    add("--lr", type=float, help="(default 2e-3)")
    add("--weight-decay", type=float, help="(default 0.05)")
    add("--seed", type=int, help="(default 0)")
    add("--threads", type=int, help="(default 2)")
    add("--limit", type=int, help="use only the first N images per split")
    add("--hard-labels", action="store_true", default=None, help="majority labels instead of vote distributions")
    add("--mixup", type=float, help="mixup Beta(alpha, alpha); 0 = off (default)")
    add("--eac", type=float, help="weight of the attention-consistency loss; 0 = off (default)")
    add("--raw-share", type=float, help="share of training samples given unaligned (as --whole-image sees them), 0..1")
    add("--no-augment", action="store_true", default=None, help="no geometric/photometric/occlusion augmentation")
    add("--scn", action="store_true", default=None, help="Self-Cure Network: importance weighting, rank "
                                                         "regularisation and relabelling of noisy labels")
    add("--scn-relabel-from", type=int, help="first epoch (1-based) that relabels; default a third of --epochs")
    add("--teacher", type=Path, help="trained ONNX expression model to distil from")
    add("--distill", type=float, help="weight of the teacher's probabilities in the targets (default 0.5)")
    add("--init", type=Path, help="start from this checkpoint (fine-tuning; keeps its alignment template)")
    add("--fold", type=int, help="CK+: the held-out fold (0-9; default 0)")
    add("--cv", type=int, help="CK+: run all N folds and report the pooled held-out accuracy")
    add("--scratch", action="store_true", default=None, help="no ImageNet initialisation")
    add("--resume", action="store_true", default=None)
    return parser


def expression_config(argv: Sequence[str] | None = None):
    """The :class:`~mien.train.expression.ExpressionConfig` of a ``mien train expression`` command line."""
    from mien.train.expression import ExpressionConfig

    args = expression_parser().parse_args(argv)
    return ExpressionConfig(**{name: value for name, value in vars(args).items() if value is not None})


def train_expression(argv: Sequence[str] | None = None) -> None:
    """One training run, or with ``--cv N`` the subject-grouped cross-validation (its report printed)."""
    config = expression_config(argv)
    if config.cv:
        from mien.train.crossval import cross_validate

        print(json.dumps(cross_validate(config), indent=2)[:2000])
    else:
        from mien.train.expression import train

        train(config)


def export(argv: Sequence[str] | None = None) -> None:
    """``mien export CHECKPOINT --out MODEL.onnx [--meta KEY=VALUE]``: :func:`mien.train.export.export_onnx`."""
    parser = argparse.ArgumentParser(prog="mien export", description="Export an expression checkpoint to ONNX.")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--meta", action="append", default=[], help="extra metadata KEY=VALUE")
    args = parser.parse_args(argv)
    from mien.train.export import export_onnx

    print(export_onnx(args.checkpoint, args.out, dict(item.split("=", 1) for item in args.meta)))


def micro_parser() -> argparse.ArgumentParser:
    """``mien train micro``: the run options, then one flag per :class:`mien.train.micro.MicroConfig` field."""
    from dataclasses import asdict

    from mien.train import micro

    parser = argparse.ArgumentParser(prog="mien train micro", description=micro.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the megc2019 folder (labels.csv, flow/)")
    parser.add_argument("--out", type=Path, required=True, help="run folder for results and models")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--final", action="store_true", help="train on all subjects and export the ONNX model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--jobs", type=int, help="seeds run in parallel (default: one per seed, up to the cores)")
    for field, value in asdict(micro.MicroConfig()).items():
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, help=f"(default {value})")
    return parser


def train_micro(argv: Sequence[str] | None = None) -> None:
    """``mien train micro``: :func:`mien.train.micro.evaluate_loso`, or with ``--final``
    :func:`mien.train.micro.train_final`."""
    from dataclasses import fields

    import torch

    from mien.train.micro import MicroConfig, evaluate_loso, train_final

    args = micro_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    config = MicroConfig(**{f.name: getattr(args, f.name) for f in fields(MicroConfig)
                            if getattr(args, f.name) is not None})
    args.out.mkdir(parents=True, exist_ok=True)
    if args.final:
        print(f"wrote {train_final(args.root, args.out, config, seed=args.seeds[0])}")
        return
    evaluate_loso(args.root, args.seeds, args.out / "loso.json", config, threads=args.threads, jobs=args.jobs)


def calibrate(argv: Sequence[str] | None = None) -> None:
    """``mien calibrate MODEL --root FERPLUS --background PHOTO``: :func:`mien.train.calibrate.calibrate`, its
    temperature and uncertain threshold written into the model's metadata."""
    import onnx  # noqa: F401  (needed to write the result: fail now, not after the validation pass)

    parser = argparse.ArgumentParser(prog="mien calibrate", description="Calibrate an expression model on FER+ validation data.")
    parser.add_argument("model", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="FER+ root")
    parser.add_argument("--background", type=Path, required=True, help="a photo without faces")
    parser.add_argument("--flag-share", type=float, default=0.10)
    parser.add_argument("--report", type=Path, help="write the calibration facts here (JSON)")
    parser.add_argument("--rafdb", type=Path, help="RAF-DB basic folder: add its validation faces (carved from train)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="only the first N validation images (quick checks)")
    args = parser.parse_args(argv)
    from mien.train.calibrate import calibrate as fit, write_metadata

    facts = fit(args.model, args.root, args.background, args.flag_share, args.threads, args.limit, args.rafdb)
    write_metadata(args.model, {"mien.temperature": f"{facts['temperature']:.4f}",
                                "mien.uncertain_below": f"{facts['uncertain_below']:.4f}"})
    print(json.dumps(facts, indent=2))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(facts, indent=2))


def _given(args: argparse.Namespace, names) -> dict:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def train_va(argv: Sequence[str] | None = None) -> None:
    """``mien train va``: :func:`mien.train.va.run` with a :class:`mien.train.va.VaRun`."""
    from dataclasses import fields

    from mien.train import va

    parser = argparse.ArgumentParser(prog="mien train va", description=va.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["affectnet", "afew-va"], required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="run folder: features cache, report.json")
    parser.add_argument("--base-model", type=Path, help="(default: the shipped default expression model)")
    parser.add_argument("--export", type=Path, help="write BASE + the VA head here")
    parser.add_argument("--alpha", type=float, help="ridge penalty on standardised features (default 1000)")
    parser.add_argument("--limit", type=int, help="at most N training samples (quick runs)")
    parser.add_argument("--threads", type=int, help="(default 2)")
    args = parser.parse_args(argv)
    va.run(va.VaRun(**_given(args, [f.name for f in fields(va.VaRun)])))


def train_eyes(argv: Sequence[str] | None = None) -> None:
    """``mien train eyes``: :func:`mien.train.eyes.run` with a :class:`mien.train.eyes.EyesRun`."""
    from dataclasses import fields

    from mien.train import eyes

    parser = argparse.ArgumentParser(prog="mien train eyes", description=eyes.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ferplus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base-model", type=Path, help="(default: the shipped default expression model)")
    parser.add_argument("--export", type=Path)
    parser.add_argument("--train", type=int, help="FER+ training faces (default 6000)")
    parser.add_argument("--valid", type=int, help="FER+ validation faces (held out; default 1500)")
    parser.add_argument("--alpha", type=float, help="(default 3000)")
    parser.add_argument("--threads", type=int, help="(default 2)")
    args = parser.parse_args(argv)
    eyes.run(eyes.EyesRun(**_given(args, [f.name for f in fields(eyes.EyesRun)])))


def train_au(argv: Sequence[str] | None = None) -> None:
    """``mien train au``: :func:`mien.train.au.run` with a :class:`mien.train.au.AuRun` (one flag per
    :class:`mien.train.au.AuConfig` field besides the run's own)."""
    from dataclasses import asdict, fields

    from mien.train import au

    parser = argparse.ArgumentParser(prog="mien train au", description=au.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckplus", type=Path, required=True, help="CK+ folder (CK+48/, au_emotion_labels.csv, folds_10.txt)")
    parser.add_argument("--ferplus", type=Path, required=True, help="FER+ folder (neutral faces as AU-free examples)")
    parser.add_argument("--dataset", choices=["disfa", "bp4d"],
                        help="also train on this AU dataset (official layout under --root), scored by its 3 folds")
    parser.add_argument("--root", type=Path, help="the --dataset folder")
    parser.add_argument("--frame-step", type=int, help="--dataset: use every N-th coded frame (default 10)")
    parser.add_argument("--out", type=Path, required=True, help="run folder: features cache, cv.json")
    parser.add_argument("--base-model", type=Path,
                        help="expression ONNX whose frozen features the head reads (default: the shipped one)")
    parser.add_argument("--export", type=Path, help="also train on everything and write BASE + this head here")
    parser.add_argument("--no-cv", action="store_true", default=None, help="with --export: skip the 10-fold CK+ scores")
    parser.add_argument("--max-neutral", type=int, help="(default 3000)")
    parser.add_argument("--threads", type=int, help="(default 2)")
    recipe = asdict(au.AuConfig())
    for name, value in recipe.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), help=f"(default {value})")
    args = parser.parse_args(argv)
    run_fields = [f.name for f in fields(au.AuRun) if f.name != "config"]
    au.run(au.AuRun(**_given(args, run_fields), config=au.AuConfig(**_given(args, recipe))))


# every training verb's command line (the python -m tools au_mesh, face_cache, ferplus_landmarks and
# facenet_expression still parse their own)
ENTRIES: dict[str, Callable[[Sequence[str] | None], None]] = {
    "expression": train_expression, "micro": train_micro, "au": train_au, "va": train_va, "eyes": train_eyes,
    "export": export, "calibrate": calibrate}


def _entry(verb: str, rest: list[str]):
    if verb == "train" and (not rest or rest[0] not in TRAINERS):
        raise UsageError("usage: mien train expression|au|va|eyes|micro ... --out RUN_DIR [options]")
    name, rest = (rest[0], rest[1:]) if verb == "train" else (verb, rest)
    return ENTRIES[name], rest


def run_training_verb(verb: str, rest: list[str]) -> int:
    """``mien train expression ...`` / ``mien export ...`` / ``mien calibrate ...``."""
    try:
        entry, rest = _entry(verb, rest)
        entry(rest)
    except ModuleNotFoundError as error:  # torch / onnx missing (imported when the trainer starts)
        raise ImportError(f"mien {verb} needs PyTorch and onnx: pip install 'mien[train]' ({error})") from None
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_training_verb(args.verb, args.rest)
