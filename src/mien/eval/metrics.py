"""Classification metrics used by the evaluate command and the benchmarks (numpy only).

Labels are integer class indices; predictions may contain -1 for "no prediction" (e.g. no face found),
which counts as wrong for every metric.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C+1) counts: rows are true classes, columns predicted classes, the last column "no prediction"."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    matrix = np.zeros((num_classes, num_classes + 1), np.int64)
    columns = np.where(predictions < 0, num_classes, predictions)
    np.add.at(matrix, (labels, columns), 1)
    return matrix


def classification_report(labels: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, per-class recall/precision/F1, their unweighted means (UAR, macro-F1) and the confusion matrix."""
    matrix = confusion_matrix(labels, predictions, len(class_names))
    true_positive = np.diag(matrix[:, :-1]).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix[:, :-1].sum(axis=0).astype(float)
    recall = np.divide(true_positive, support, out=np.zeros_like(support), where=support > 0)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(predicted), where=predicted > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    present = support > 0  # means over classes that occur in the labels
    return {
        "n": int(support.sum()),
        "accuracy": float(true_positive.sum() / max(support.sum(), 1)),
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "no_prediction": int(matrix[:, -1].sum()),
        "per_class": {
            name: {"support": int(support[i]), "recall": float(recall[i]), "precision": float(precision[i]),
                   "f1": float(f1[i])}
            for i, name in enumerate(class_names)
        },
        "confusion": matrix.tolist(),
    }
