"""Subject-grouped k-fold training and evaluation (the CK+ 10-fold protocol).

Each fold trains into ``<out>/fold<k>`` on the other folds and predicts its held-out fold with the last
epoch (the held-out fold is a test fold: nothing is selected on it). The pooled predictions of all folds
give the reported accuracy, UAR, macro-F1 and confusion matrix (``<out>/cv_report.json``); per-fold
accuracies show the spread. Folds already finished are reused, so an interrupted run continues.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from mien.eval.metrics import classification_report
from mien.schema import EXPRESSIONS
from mien.train.checkpoint import load_checkpoint
from mien.train.expression import ExpressionConfig, crop_for_run, predict
from mien.train.expression_data import load_training_data
from mien.train.export import load_checkpoint_model


def fold_predictions(args: ExpressionConfig, checkpoint_path: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Probabilities and labels of the held-out fold from a fold's kept checkpoint."""
    model, checkpoint = load_checkpoint_model(checkpoint_path)
    crop, _ = crop_for_run(args, checkpoint["config"])
    data = load_training_data(args.dataset, args.root, crop, fold=args.fold, limit=args.limit)
    return predict(model, data.valid), data.valid_labels, data.scored_classes


def cross_validate(args: ExpressionConfig) -> dict:
    from mien.train.expression import train

    out = Path(args.out)
    probabilities, labels, per_fold, scored = [], [], [], None
    for fold in range(args.cv):
        fold_args = dataclasses.replace(args, fold=fold, out=out / f"fold{fold}", cv=0)
        done = fold_args.out / "last.pt"
        finished = done.exists() and load_checkpoint(done)["state"]["epoch"] >= args.epochs
        if not finished:
            fold_args = dataclasses.replace(fold_args, resume=done.exists())
            train(fold_args)
        fold_probabilities, fold_labels, scored = fold_predictions(fold_args, fold_args.out / "best.pt")
        probabilities.append(fold_probabilities)
        labels.append(fold_labels)
        predicted = np.asarray(scored)[fold_probabilities[:, scored].argmax(1)]
        per_fold.append(float((predicted == fold_labels).mean()))
    probabilities, labels = np.concatenate(probabilities), np.concatenate(labels)
    class_names = [EXPRESSIONS[i] for i in scored]
    local = np.array([scored.index(label) for label in labels])
    report = classification_report(local, probabilities[:, scored].argmax(1), class_names)
    report.update(folds=args.cv, fold_accuracy=per_fold, fold_accuracy_std=float(np.std(per_fold)),
                  images=int(len(labels)), init=str(args.init) if args.init else None, epochs=args.epochs,
                  backbone=args.backbone)
    tmp = out / "cv_report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out / "cv_report.json")
    np.savez_compressed(out / "cv_predictions.npz", probabilities=probabilities, labels=labels)
    return report
