"""``mien train``, ``mien export`` and ``mien calibrate``: the training command lines (PyTorch; the ``train``
extra). Every trainer's options are declared here, so ``mien train TRAINER --help`` and the CLI reference list
them all; settings that are fields of a trainer's dataclass (:mod:`mien.train.configs`) get one flag each,
default None (unset: the dataclass's default). Building the parsers imports no PyTorch: a trainer's module is
imported only when its command runs. ``python -m mien.train.X ...`` runs these same command lines
(``mien train X ...``; ``facenet_expression`` and ``fast_student`` as ``facenet-expression``/``fast-student``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from mien.cli.common import EXIT_OK

# What a dataclass field means as a flag (the dataclasses in mien.train.configs hold the defaults); a trainer's
# own entry wins over the shared one.
FIELD_HELP: dict[str, str] = {
    "epochs": "training epochs", "batch_size": "samples per optimiser step", "lr": "learning rate",
    "weight_decay": "weight decay", "seed": "random seed (sampling, augmentation, initialisation)",
    "threads": "torch threads", "label_smoothing": "label smoothing of one-hot targets",
    "ferplus_per_epoch": "FER+ training faces drawn afresh each epoch",
    "affectnet_per_epoch": "affectnet4 faces drawn afresh each epoch",
    "faces": "the aligned face cache (python -m mien.train.face_cache)",
}
TRAINER_FIELD_HELP: dict[str, dict[str, str]] = {
    "facenet-expression": {
        "features": "the cached trunk features (the features step's --out)",
        "backbone": "the pretrained network: mobilefacenet-rafdb (OpenCV Zoo's RAF-DB model) or sface (face recognition)",
        "logit_adjust": "tau of the logit-adjusted loss (Menon et al. 2021); 0 = plain cross-entropy",
        "label_smoothing": "label smoothing of one-hot targets (RAF-DB, affectnet4; FER+ keeps its votes)",
        "ferplus_weight": "weight of the FER+ faces (vote distributions) in the loss",
        "affectnet_weight": "weight of affectnet4's faces (their noisy folder labels, or the teacher's targets); 0 leaves them out",
        "teacher": "distil from this teacher folder (fast-student teacher --model FILE --out DIR); '' = none",
        "kd_weight": "with --teacher: the teacher's share of each face's target",
        "limit": "use only the first N faces of each cached split (smoke tests)",
    },
    "fast-student": {
        "teacher": "the teacher's targets (the teacher step's --out)",
        "init": "start from this facenet-expression run's best.pt ('' or a missing file: the RAF-DB teacher network)",
        "kd_weight": "weight of the teacher's probabilities against the faces' own labels",
        "kd_t": "distillation temperature",
        "affectnet_per_epoch": "affectnet4 faces drawn afresh each epoch (teacher targets only)",
        "augment_share": "share of training views augmented (the others are plain mirrors)",
        "gray_share": "share of augmented views turned gray",
        "size": "the student's input side in pixels, a multiple of 16 from 32 to 112 (64: the fast variant)",
    },
    "micro": {
        "width": "channels of the network's first stage (doubling later)",
        "dropout": "dropout before the classifier",
        "class_weighted": "weigh the loss by inverse class frequency (true/false)",
        "augment": "augment the flow images (true/false)",
        "mixup": "mixup Beta(alpha, alpha); 0 = off",
    },
    "au": {
        "neutral_share": "neutral FER+ faces per CK+ image in training",
        "features": "the head's input: map (the flattened last feature map) or pooled (its spatial mean)",
    },
}


def _boolean(text: str) -> bool:
    """``true/yes/1`` or ``false/no/0`` (any case); anything else is a usage error, never a silent False."""
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_flags(parser: argparse.ArgumentParser, config: type, trainer: str, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the dataclass ``config`` (``weight_decay`` -> ``--weight-decay``), default None so
    that an unset flag keeps the field's default (named in the help)."""
    meanings = {**FIELD_HELP, **TRAINER_FIELD_HELP.get(trainer, {})}
    for item in dataclasses.fields(config):
        if item.name in skip:
            continue
        value = item.default
        kind = _boolean if isinstance(value, bool) else int if value is None else type(value)
        parser.add_argument(f"--{item.name.replace('_', '-')}", type=kind,
                            help=f"{meanings.get(item.name, item.name.replace('_', ' '))} (default {value})")


def given(args: argparse.Namespace, names) -> dict[str, Any]:
    """The options among ``names`` that the command line set (None: not given)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _field_names(config: type) -> list[str]:
    return [item.name for item in dataclasses.fields(config)]


def settings(args: argparse.Namespace, config: type):
    """An instance of the dataclass ``config`` from the flags the command line set (the others: its defaults)."""
    return config(**given(args, _field_names(config)))


# ------------------------------------------------------------------------------------------ the trainers
def add_expression_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train expression``: the fields of :class:`mien.train.expression.ExpressionConfig` (unset: its
    defaults)."""
    add = parser.add_argument
    add("--dataset", choices=["ferplus", "fer2013", "ckplus"],
        help="ferplus: vote distributions (default); fer2013: the original 7-class labels of the same images "
             "(select on PublicTest); ckplus: CK+48 subject-grouped folds")
    add("--root", type=Path, required=True, help="dataset root (FER+ root, or the CK+ folder)")
    add("--out", type=Path, required=True, help="run folder for checkpoints and logs")
    add("--landmarks", type=Path, help="npz from mien.train.ferplus_landmarks")
    add("--backbone", help="network (default mobilenetv2)")
    add("--size", type=int, help="crop size in pixels (default 64)")
    add("--epochs", type=int, help="training epochs (default 15)")
    add("--batch-size", type=int, help="samples per optimiser step (default 64)")
    add("--lr", type=float, help="learning rate (default 2e-3)")
    add("--weight-decay", type=float, help="weight decay (default 0.05)")
    add("--seed", type=int, help="random seed (default 0)")
    add("--threads", type=int, help="torch threads (default 2)")
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
    add("--resume", action="store_true", default=None, help="continue the run in --out from its last.pt")


def expression_parser() -> argparse.ArgumentParser:
    """``mien train expression`` alone (for :func:`expression_config`)."""
    parser = argparse.ArgumentParser(prog="mien train expression", description=_DESCRIPTIONS["expression"])
    add_expression_arguments(parser)
    return parser


def _expression_config(args: argparse.Namespace):
    from mien.train.expression import ExpressionConfig

    return settings(args, ExpressionConfig)


def expression_config(argv: Sequence[str] | None = None):
    """The :class:`~mien.train.expression.ExpressionConfig` of a ``mien train expression`` command line."""
    return _expression_config(expression_parser().parse_args(argv))


def run_expression(args: argparse.Namespace) -> None:
    """One training run, or with ``--cv N`` the subject-grouped cross-validation (its report printed)."""
    config = _expression_config(args)
    if config.cv:
        from mien.train.crossval import cross_validate

        print(json.dumps(cross_validate(config), indent=2)[:2000])
    else:
        from mien.train.expression import train

        train(config)


def train_expression(argv: Sequence[str] | None = None) -> None:
    """``mien train expression`` from its arguments (errors propagate)."""
    run_expression(expression_parser().parse_args(argv))


def add_micro_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train micro``: the run options, then one flag per :class:`mien.train.configs.MicroConfig` field."""
    from mien.train.configs import MicroConfig

    parser.add_argument("--root", type=Path, required=True, help="the megc2019 folder (labels.csv, flow/)")
    parser.add_argument("--out", type=Path, required=True, help="run folder for results and models")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds, each a whole leave-one-subject-out run")
    parser.add_argument("--final", action="store_true", help="train on all subjects and export the ONNX model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--jobs", type=int, help="seeds run in parallel (default: one per seed, up to the cores)")
    add_config_flags(parser, MicroConfig, "micro")


def run_micro(args: argparse.Namespace) -> None:
    """:func:`mien.train.micro.evaluate_loso`, or with ``--final`` :func:`mien.train.micro.train_final`."""
    import torch

    from mien.train.micro import MicroConfig, evaluate_loso, train_final

    torch.set_num_threads(args.threads)
    config = settings(args, MicroConfig)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.final:
        print(f"wrote {train_final(args.root, args.out, config, seed=args.seeds[0])}")
        return
    evaluate_loso(args.root, args.seeds, args.out / "loso.json", config, threads=args.threads, jobs=args.jobs)


def add_au_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train au``: the fields of :class:`mien.train.au.AuRun`, then one flag per
    :class:`mien.train.configs.AuConfig` field."""
    from mien.train.configs import AuConfig

    add = parser.add_argument
    add("--ckplus", type=Path, required=True, help="CK+ folder (CK+48/, au_emotion_labels.csv, folds_10.txt)")
    add("--ferplus", type=Path, required=True, help="FER+ folder (neutral faces as AU-free examples)")
    add("--dataset", choices=["disfa", "bp4d"],
        help="also train on this AU dataset (official layout under --root), scored by its 3 folds")
    add("--root", type=Path, help="the --dataset folder")
    add("--frame-step", type=int, help="--dataset: use every N-th coded frame (default 10)")
    add("--out", type=Path, required=True, help="run folder: features cache, cv.json")
    add("--base-model", type=Path,
        help="expression ONNX whose frozen features the head reads (default: the shipped one)")
    add("--export", type=Path, help="also train on everything and write BASE + this head here")
    add("--no-cv", action="store_true", default=None, help="with --export: skip the 10-fold CK+ scores")
    add("--max-neutral", type=int, help="FER+ neutral faces at most (default 3000)")
    add("--threads", type=int, help="threads (default 2)")
    add_config_flags(parser, AuConfig, "au")


def run_au(args: argparse.Namespace) -> None:
    """:func:`mien.train.au.run` with a :class:`mien.train.au.AuRun`."""
    from mien.train import au

    run_fields = [name for name in _field_names(au.AuRun) if name != "config"]
    au.run(au.AuRun(**given(args, run_fields), config=settings(args, au.AuConfig)))


def add_va_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train va``: the fields of :class:`mien.train.va.VaRun`."""
    add = parser.add_argument
    add("--dataset", choices=["affectnet", "afew-va"], required=True, help="the layout of --root")
    add("--root", type=Path, required=True, help="the dataset folder")
    add("--out", type=Path, required=True, help="run folder: features cache, report.json")
    add("--base-model", type=Path, help="expression ONNX whose features the head reads (default: the shipped one)")
    add("--export", type=Path, help="write BASE + the VA head here")
    add("--alpha", type=float, help="ridge penalty on standardised features (default 1000)")
    add("--limit", type=int, help="at most N training samples (quick runs)")
    add("--threads", type=int, help="threads (default 2)")


def run_va(args: argparse.Namespace) -> None:
    """:func:`mien.train.va.run` with a :class:`mien.train.va.VaRun`."""
    from mien.train import va

    va.run(settings(args, va.VaRun))


def add_eyes_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train eyes``: the fields of :class:`mien.train.eyes.EyesRun`."""
    add = parser.add_argument
    add("--ferplus", type=Path, required=True, help="FER+ folder")
    add("--out", type=Path, required=True, help="run folder: features caches, report.json")
    add("--base-model", type=Path, help="expression ONNX whose features the head reads (default: the shipped one)")
    add("--export", type=Path, help="write BASE + the eyes head here")
    add("--train", type=int, help="FER+ training faces (default 6000)")
    add("--valid", type=int, help="FER+ validation faces (held out; default 1500)")
    add("--alpha", type=float, help="ridge penalty on standardised features (default 3000)")
    add("--threads", type=int, help="threads (default 2)")


def run_eyes(args: argparse.Namespace) -> None:
    """:func:`mien.train.eyes.run` with a :class:`mien.train.eyes.EyesRun`."""
    from mien.train import eyes

    eyes.run(settings(args, eyes.EyesRun))


def _add_export_step(steps, network: str) -> None:
    export = steps.add_parser("export", help=f"write a run's best checkpoint as a mien ONNX model ({network})",
                              description=f"Write a run's best checkpoint as a mien ONNX model ({network}), the "
                                          "post-hoc logit adjustment chosen on validation folded in.")
    export.add_argument("--run", type=Path, required=True, help="the run folder (train's --out)")
    export.add_argument("--out", type=Path, required=True, help="the ONNX file to write")
    export.add_argument("--meta", action="append", default=[], help="extra metadata KEY=VALUE (repeatable)")


def _metadata(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def add_facenet_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train facenet-expression features|train|export`` (= ``python -m mien.train.facenet_expression``)."""
    from mien.train.configs import TrainConfig

    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    features = steps.add_parser("features", help="cache the frozen trunk's features of every training face",
                                description="Cache the frozen trunk's features of augmented views of every face.")
    features.add_argument("--faces", type=Path, default=Path(TrainConfig.faces), help=FIELD_HELP["faces"])
    features.add_argument("--out", type=Path, default=Path(TrainConfig.features), help="where the features go")
    features.add_argument("--limit", type=int, default=None, help="only the first N faces of each split (smoke tests)")
    features.add_argument("--backbone", default=TrainConfig.backbone, help=TRAINER_FIELD_HELP["facenet-expression"]["backbone"])
    fit = steps.add_parser("train", help="fine-tune the top on the cached features (resumes in --out)",
                           description="Fine-tune the top on the cached features; run again to resume in --out.")
    fit.add_argument("--out", type=Path, required=True, help="the run folder (checkpoints, metrics.jsonl, best.json)")
    add_config_flags(fit, TrainConfig, "facenet-expression", skip=("notes",))
    _add_export_step(steps, "112 px")


def run_facenet(args: argparse.Namespace) -> None:
    """:func:`mien.train.facenet_expression.build_features`, ``train`` or ``export`` by ``args.step``."""
    from mien.train import facenet_expression as trainer

    if args.step == "features":
        trainer.build_features(args.faces, args.out, limit=args.limit, backbone=args.backbone)
    elif args.step == "train":
        print(json.dumps(trainer.train(settings(args, trainer.TrainConfig), args.out)))
    else:
        trainer.export(args.run, args.out, _metadata(args.meta))


def add_fast_student_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train fast-student teacher|train|export`` (= ``python -m mien.train.fast_student``)."""
    from mien.train.configs import StudentConfig

    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    teacher = steps.add_parser("teacher", help="the default model's logits on every cached face",
                               description="The default model's logits on every cached face (once).")
    teacher.add_argument("--faces", type=Path, default=Path(StudentConfig.faces), help=FIELD_HELP["faces"])
    teacher.add_argument("--out", type=Path, default=Path(StudentConfig.teacher), help="where the logits go")
    teacher.add_argument("--model", type=Path, default=None,
                         help="the teacher ONNX file (default: the shipped default model; e.g. the accurate variant's file)")
    fit = steps.add_parser("train", help="distil into a student (64 px: the fast variant; 112: the whole default "
                                         "network) (resumes in --out)",
                           description="Distil the default model into a student; run again to resume in --out.")
    fit.add_argument("--out", type=Path, required=True, help="the run folder (checkpoints, metrics.jsonl, best.json)")
    add_config_flags(fit, StudentConfig, "fast-student")
    _add_export_step(steps, "the run's --size")


def run_fast_student(args: argparse.Namespace) -> None:
    """:func:`mien.train.fast_student.teacher_logits`, ``train`` or ``export`` by ``args.step``."""
    from mien.train import fast_student as trainer

    if args.step == "teacher":
        trainer.teacher_logits(args.faces, args.out, *([args.model] if args.model else []))
    elif args.step == "train":
        print(json.dumps(trainer.train(settings(args, trainer.StudentConfig), args.out)))
    else:
        trainer.export(args.run, args.out, _metadata(args.meta))


# ------------------------------------------------------------------------------------------ export, calibrate
def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="a mien train expression checkpoint (best.pt)")
    parser.add_argument("--out", type=Path, required=True, help="the ONNX file to write")
    parser.add_argument("--meta", action="append", default=[], help="extra metadata KEY=VALUE (repeatable)")


def run_export(args: argparse.Namespace) -> None:
    """``mien export CHECKPOINT --out MODEL.onnx [--meta KEY=VALUE]``: :func:`mien.train.export.export_onnx`."""
    from mien.train.export import export_onnx

    print(export_onnx(args.checkpoint, args.out, _metadata(args.meta)))


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="the expression ONNX file; its metadata is rewritten")
    parser.add_argument("--root", type=Path, required=True, help="FER+ root")
    parser.add_argument("--background", type=Path, required=True, help="a photo without faces")
    parser.add_argument("--flag-share", type=float, default=0.10,
                        help="share of validation faces the uncertain threshold flags")
    parser.add_argument("--report", type=Path, help="write the calibration facts here (JSON)")
    parser.add_argument("--rafdb", type=Path, help="RAF-DB basic folder: add its validation faces (carved from train)")
    parser.add_argument("--threads", type=int, default=2, help="threads")
    parser.add_argument("--limit", type=int, help="only the first N validation images (quick checks)")


def run_calibrate(args: argparse.Namespace) -> None:
    """:func:`mien.train.calibrate.calibrate`, its temperature and uncertain threshold written into the model's
    metadata."""
    import onnx  # noqa: F401  (needed to write the result: fail now, not after the validation pass)

    from mien.train.calibrate import calibrate as fit, write_metadata

    facts = fit(args.model, args.root, args.background, args.flag_share, args.threads, args.limit, args.rafdb)
    write_metadata(args.model, {"mien.temperature": f"{facts['temperature']:.4f}",
                                "mien.uncertain_below": f"{facts['uncertain_below']:.4f}"})
    print(json.dumps(facts, indent=2))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(facts, indent=2))


# ------------------------------------------------------------------------------------------ mounting
_DESCRIPTIONS = {
    "expression": "Train an expression model on FER+, FER2013 or CK+ (mien.train.expression).",
    "micro": "Micro-expression recognition on MEGC2019: leave-one-subject-out scores, or with --final the "
             "shipped model (mien.train.micro).",
    "au": "Action-unit head on the expression network's frozen features, trained on CK+ (and optionally "
          "DISFA/BP4D) (mien.train.au).",
    "va": "A valence/arousal head on the frozen features, from AffectNet or AFEW-VA (mien.train.va; no PyTorch).",
    "eyes": "Eye openness head distilled from dlib's 68-point eye aspect ratio on FER+ faces (mien.train.eyes).",
    "facenet-expression": "The default colour model (112 px MobileFaceNet; --backbone sface: on the SFace "
                          "network): cache the frozen trunk's features, train the top, export "
                          "(mien.train.facenet_expression).",
    "fast-student": "The default model distilled into a smaller-input student (the 64 px fast variant): "
                    "teacher targets, train, export (mien.train.fast_student).",
    "ensemble": "Two facenet-expression runs as one model, the mean of their probabilities: the first run's share "
                "is chosen on the validation data, then the model is exported (mien.train.ensemble).",
}
def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """``mien train ensemble`` (= ``python -m mien.train.ensemble``)."""
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help="a facenet-expression run folder (give two)")
    parser.add_argument("--features", type=Path, action="append", required=True,
                        help="each run's cached trunk features, in --run order")
    parser.add_argument("--faces", type=Path, default=Path("data_cache/faces112"), help=FIELD_HELP["faces"])
    parser.add_argument("--out", type=Path, required=True, help="the ONNX file to write")
    parser.add_argument("--report", type=Path, help="where the validation score of every share tried goes (JSON)")
    parser.add_argument("--meta", action="append", default=[], help="extra metadata KEY=VALUE (repeatable)")


def run_ensemble(args: argparse.Namespace) -> None:
    """:func:`mien.train.ensemble.build`."""
    from mien.train.ensemble import build

    print(json.dumps(build(args.run, args.features, args.faces, args.out, args.report, _metadata(args.meta))))


# trainer -> (one-line help, adds its arguments, runs a parsed command line)
_TRAINERS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]] = {
    "expression": ("an expression model on FER+, FER2013 or CK+", add_expression_arguments, run_expression),
    "micro": ("the micro-expression model (MEGC2019)", add_micro_arguments, run_micro),
    "au": ("an action-unit head (CK+, DISFA, BP4D)", add_au_arguments, run_au),
    "va": ("a valence/arousal head (AffectNet, AFEW-VA)", add_va_arguments, run_va),
    "eyes": ("an eye-openness head (FER+, dlib's eye aspect ratio)", add_eyes_arguments, run_eyes),
    "facenet-expression": ("the default colour model (= python -m mien.train.facenet_expression)",
                           add_facenet_arguments, run_facenet),
    "fast-student": ("the fast variant, distilled (= python -m mien.train.fast_student)",
                     add_fast_student_arguments, run_fast_student),
    "ensemble": ("two facenet-expression runs as one model (= python -m mien.train.ensemble)",
                 add_ensemble_arguments, run_ensemble),
}
TRAINERS = tuple(_TRAINERS)


def add_parsers(verbs) -> None:
    train = verbs.add_parser("train", help="train a model (PyTorch; see mien train TRAINER --help)",
                             description="Train a model (PyTorch: the train extra).")
    trainers = train.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for name, (help_text, add_arguments, _) in _TRAINERS.items():
        add_arguments(trainers.add_parser(name, help=help_text, description=_DESCRIPTIONS[name]))
    export = verbs.add_parser("export", help="export a training checkpoint to ONNX",
                              description="Export a mien train expression checkpoint to ONNX.")
    add_export_arguments(export)
    calibrate = verbs.add_parser("calibrate", help="fit a model's temperature and uncertain threshold on validation "
                                                   "data", description="Calibrate an expression model on FER+ "
                                                                       "validation data.")
    add_calibrate_arguments(calibrate)


def _runner(args: argparse.Namespace) -> Callable[[argparse.Namespace], None]:
    if args.verb == "train":
        return _TRAINERS[args.trainer][2]
    return {"export": run_export, "calibrate": run_calibrate}[args.verb]


def run(args: argparse.Namespace) -> int:
    """A parsed ``mien train ...`` / ``mien export ...`` / ``mien calibrate ...`` command line."""
    try:
        _runner(args)(args)
    except ModuleNotFoundError as error:  # torch / onnx missing (imported when the trainer starts)
        raise ImportError(f"mien {args.verb} needs PyTorch and onnx: pip install 'mien[train]' ({error})") from None
    return EXIT_OK


def training_parser() -> argparse.ArgumentParser:
    """A parser of the training verbs alone (``train``, ``export``, ``calibrate``)."""
    parser = argparse.ArgumentParser(prog="mien")
    add_parsers(parser.add_subparsers(dest="verb", metavar="VERB", required=True))
    return parser


def run_training_verb(verb: str, rest: list[str]) -> int:
    """``mien train expression ...`` / ``mien export ...`` / ``mien calibrate ...`` from its arguments; errors
    propagate (``mien``'s main turns them into exit codes)."""
    return run(training_parser().parse_args([verb, *rest]))
