"""Action-unit detection metrics and ``mien evaluate au`` (numpy only; no PyTorch).

Scores follow the AU literature: per AU, F1 of the binary occurrence decision (at the model's threshold)
over frames, plus AUROC of the probability; the headline is the unweighted mean F1 over AUs. Frames where
an AU is not coded (NaN) are left out for that AU; frames where no face is found count as "absent"
predictions (reported separately as ``faces_not_found``), so missing detections cost recall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mien.eval.metrics import auroc
from mien.io.frames import Frame
from mien.io.samples import read_sample
from mien.schema import AUS

REQUIRED_AUS = (1, 2, 4, 5, 6, 7, 9, 12, 15, 17, 23, 24, 25, 26)  # the set the AU issue names


def au_scores(labels: np.ndarray, probabilities: np.ndarray, thresholds: float | Sequence[float] = 0.5,
              aus: Sequence[int] = AUS) -> dict:
    """Per-AU F1, precision, recall, AUROC and positives for (N, K) 0/1/NaN labels and (N, K) probabilities.

    Returns ``per_au`` (keyed ``AU01`` ...), ``mean_f1`` over the AUs given, ``mean_f1_required`` over those of
    :data:`REQUIRED_AUS` among them, and the thresholds used.
    """
    labels, probabilities = np.asarray(labels, float), np.asarray(probabilities, float)
    if labels.shape != probabilities.shape or labels.shape[1] != len(aus):
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} must both be (N, {len(aus)})")
    thresholds = np.broadcast_to(np.asarray(thresholds, float), (len(aus),))
    per_au = {}
    for k, au in enumerate(aus):
        coded = ~np.isnan(labels[:, k])
        truth, scores = labels[coded, k] > 0.5, np.nan_to_num(probabilities[coded, k], nan=0.0)
        predicted = scores >= thresholds[k]
        tp = int((truth & predicted).sum())
        fp, fn = int((~truth & predicted).sum()), int((truth & ~predicted).sum())
        per_au[f"AU{au:02d}"] = {
            "f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else 0.0,
            "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
            "auroc": round(auroc(scores, truth), 4) if 0 < truth.sum() < len(truth) else None,
            "support": int(truth.sum()), "coded": int(coded.sum()),
        }
    required = [per_au[f"AU{au:02d}"]["f1"] for au in REQUIRED_AUS if au in aus]
    return {"per_au": per_au, "mean_f1": round(float(np.mean([v["f1"] for v in per_au.values()])), 4),
            "mean_f1_required": round(float(np.mean(required)), 4) if required else None,
            "thresholds": [float(t) for t in thresholds]}


def evaluate_au_dataset(analyzer, samples, limit: int | None = None) -> dict:
    """Run ``analyzer`` (with an AU head) on AU-coded frames (:mod:`mien.datasets.au_layouts` samples) and
    score the AUs the dataset and the model share. The largest face per frame is used."""
    if not analyzer.expression.has_aus:
        raise ValueError(f"{analyzer.expression_name}: this expression model has no AU head")
    samples = list(samples)[:limit]
    if not samples:
        raise ValueError("no AU-coded frames to evaluate")
    dataset_aus = samples[0].aus
    shared = [au for au in dataset_aus if au in AUS]
    if not shared:
        raise ValueError(f"the dataset's AUs {dataset_aus} and the model's {AUS} have none in common")
    columns = [AUS.index(au) for au in shared]
    label_columns = [dataset_aus.index(au) for au in shared]
    labels = np.stack([s.occurrence[label_columns] for s in samples]).astype(float)
    probabilities = np.full(labels.shape, np.nan)
    not_found = 0
    for i, sample in enumerate(samples):
        result = analyzer.analyze_frames([Frame(str(sample.source), sample.frame, read_sample(sample), 0.0)])
        if len(result) == 0:
            not_found += 1
            continue
        areas = (result.boxes[:, 2] - result.boxes[:, 0]) * (result.boxes[:, 3] - result.boxes[:, 1])
        probabilities[i] = result.au_probs[int(np.argmax(areas)), columns]
    thresholds = [analyzer.expression.au_thresholds[c] for c in columns]
    report = au_scores(labels, probabilities, thresholds, shared)
    report.update(frames=len(samples), faces_not_found=not_found, aus=shared,
                  subjects=sorted({s.subject for s in samples}))
    return report


def au_report_lines(report: dict, title: str) -> list[str]:
    """The report as the lines ``mien evaluate au`` prints."""
    lines = [f"{title}: {report['frames']} frames, faces not found {report['faces_not_found']}, "
             f"mean F1 {report['mean_f1']:.4f}"]
    for name, row in report["per_au"].items():
        auc = "-" if row["auroc"] is None else f"{row['auroc']:.3f}"
        lines.append(f"  {name}: F1 {row['f1']:.3f}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
                     f"AUROC {auc}  positives {row['support']}/{row['coded']}")
    return lines


def evaluate_au(analyzer, dataset: str, root: Path, fold: int | None = None, limit: int | None = None) -> dict:
    """DISFA or BP4D in their official layouts; ``fold`` 1-3 scores that fold's test subjects (the
    literature's 3-fold protocol), none scores every subject."""
    from mien.datasets.au_layouts import au_fold, read_au_dataset

    subjects = au_fold(dataset, fold)[1] if fold else None
    samples = read_au_dataset(dataset, root, subjects=subjects)
    report = evaluate_au_dataset(analyzer, samples, limit)
    report.update(dataset=dataset, fold=fold)
    return report
