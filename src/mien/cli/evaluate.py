"""``mien evaluate``: measure a model on a labelled dataset (:mod:`mien.eval`); this module only builds the
analyzer, prints the report and writes it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mien.cli.common import EXIT_OK, UsageError, analyzer_config, build_analyzer


def add_parsers(verbs) -> None:
    evaluate = verbs.add_parser("evaluate", help="measure a model on a labelled dataset")
    add = evaluate.add_argument
    add("task", choices=["expression", "au", "va", "micro"],
        help="au: AU detection on DISFA or BP4D frames; va: valence/arousal CCC on AffectNet or "
             "AFEW-VA; micro: leave-one-subject-out training and scoring on MEGC2019 (train extra)")
    add("--dataset", help="ferplus, fer2013-csv, fer2013-folders, ckplus, rafdb, affectnet or imagefolder; "
                          "megc2019 for micro")
    add("--root", type=Path, required=True, help="the dataset's folder (or fer2013.csv)")
    add("--split", default="test", help="the dataset split to score (affectnet: test means valid)")
    add("--classes", choices=["8", "7"], default="8", help="7: without contempt (FER2013 protocol)")
    add("--input", choices=["detect", "whole-image", "framed"], default="detect",
        help="detect on the image as it is, treat it as the face, or paste it into a 640x480 frame")
    add("--background", type=Path, help="photo without faces for --input framed")
    add("--calibrate-on", metavar="SPLIT", help="fit the temperature on this split (e.g. valid)")
    add("--expression", "--model", dest="expression", help="registered expression model or .onnx path")
    add("--output", "-o", type=Path, help="metrics JSON")
    add("--confusion", type=Path, help="confusion matrix PNG (needs matplotlib)")
    add("--limit", type=int, help="only the first N samples (quick checks)")
    add("--threads", type=int, help="CPU threads per model (micro: torch threads, default 1)")
    add("--seeds", type=int, nargs="+", default=[0, 1, 2], help="micro: repeat LOSO per seed")
    add("--fold", type=int, choices=[1, 2, 3], help="au: the 3-fold protocol's test subjects")


def _write_json(path: Path | None, report: dict) -> None:
    if path:
        from mien.io.writers import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(report, indent=2))


def _analyzer(args: argparse.Namespace, **values):
    config = analyzer_config(argparse.Namespace(expression=args.expression, threads=args.threads), **values)
    return build_analyzer(config), config


def run_au(args: argparse.Namespace) -> int:
    """``mien evaluate au``: :func:`mien.eval.au.evaluate_au` (DISFA / BP4D official layouts)."""
    if args.dataset not in ("disfa", "bp4d"):
        raise UsageError("evaluate au needs --dataset disfa or bp4d (CK+ AU scores: benchmarks/bench_au.py, "
                         "subject-grouped folds, since the shipped AU head was trained on all of CK+)")
    from mien.eval.au import au_report_lines, evaluate_au

    analyzer, config = _analyzer(args)
    report = evaluate_au(analyzer, args.dataset, args.root, args.fold, args.limit)
    report.update(expression_model=str(config.expression))
    print("\n".join(au_report_lines(report, f"{args.dataset}" + (f" fold {args.fold}" if args.fold else ""))))
    _write_json(args.output, report)
    return EXIT_OK


def run_va(args: argparse.Namespace) -> int:
    """``mien evaluate va``: :func:`mien.eval.va.evaluate_va_dataset` on AffectNet (``--split valid``) or AFEW-VA."""
    from mien.datasets.va_layouts import read_va_dataset
    from mien.eval.va import evaluate_va_dataset

    if args.dataset not in ("affectnet", "afew-va"):
        raise UsageError("evaluate va needs --dataset affectnet or afew-va")
    split = ("valid" if args.split == "test" else args.split) if args.dataset == "affectnet" else None
    samples = read_va_dataset(args.dataset, args.root, split)
    report = evaluate_va_dataset(_analyzer(args)[0], samples, args.limit)
    report.update(dataset=args.dataset, split=split)
    print(f"{args.dataset} ({report['images']} images, {report['faces_not_found']} without a face; method "
          f"{report['method']}): valence CCC {report['valence']['ccc']:.3f} RMSE {report['valence']['rmse']:.3f}, "
          f"arousal CCC {report['arousal']['ccc']:.3f} RMSE {report['arousal']['rmse']:.3f}")
    _write_json(args.output, report)
    return EXIT_OK


def run_micro(args: argparse.Namespace) -> int:
    """``mien evaluate micro``: :func:`mien.train.micro.evaluate_loso` (MEGC2019 composite protocol)."""
    if args.dataset not in (None, "megc2019"):
        raise UsageError(f"micro evaluation reads the MEGC2019 composite layout, not {args.dataset!r}")
    from mien.train.micro import evaluate_loso

    evaluate_loso(args.root, args.seeds, args.output, threads=args.threads or 1)
    return EXIT_OK


def run_expression(args: argparse.Namespace) -> int:
    """``mien evaluate expression``: :func:`mien.eval.expression.evaluate_expression`, printed and written."""
    if args.dataset is None:
        raise UsageError("evaluate expression needs --dataset")
    import numpy as np

    from mien.config import WHOLE_IMAGE
    from mien.eval.expression import evaluate_expression

    background = None
    if args.input == "framed":
        if args.background is None:
            raise UsageError("--input framed needs --background PHOTO (a photo without faces)")
        from mien.io.images import read_image

        background = read_image(args.background)
    if args.calibrate_on is not None and args.calibrate_on == args.split:
        raise UsageError("--calibrate-on must name another split than the one evaluated")
    analyzer, config = _analyzer(args, detector=WHOLE_IMAGE if args.input == "whole-image" else None)
    report = evaluate_expression(analyzer, args.dataset, args.root, args.split, int(args.classes), args.input,
                                 background, args.calibrate_on, args.limit)
    tail = {name: report.pop(name) for name in ("model_temperature", "calibrated_on")}
    report.update(expression_model=str(config.expression), **tail)
    temperature = report.get("temperature")
    print(f"{args.dataset} {args.split} ({report['n']} faces, {args.input}): accuracy {report['accuracy']:.4f}, "
          f"UAR {report['uar']:.4f}, macro-F1 {report['macro_f1']:.4f}, not found {report['faces_not_found']}, "
          f"ECE {report['ece']:.4f}" + (f" -> {report['ece_calibrated']:.4f} at T={temperature:.2f}" if temperature else ""))
    for name, row in report["per_class"].items():
        print(f"  {name:9s} recall {row['recall']:.3f}  precision {row['precision']:.3f}  f1 {row['f1']:.3f}  n={row['support']}")
    _write_json(args.output, report)
    if args.confusion:
        from mien.eval.expression import class_names_for
        from mien.workflows.plots import plot_confusion

        plot_confusion(np.array(report["confusion"]), class_names_for(int(args.classes)), args.confusion,
                       f"{args.dataset} {args.split}, {config.expression}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    handlers = {"au": run_au, "va": run_va, "micro": run_micro, "expression": run_expression}
    return handlers[args.task](args)
