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
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be class indices 0..{num_classes - 1}; filter unlabelled samples first")
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


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins weighted by
    their share of samples (Guo et al. 2017). 0 is perfectly calibrated."""
    probabilities, labels = np.asarray(probabilities, float), np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities as softmax(log p / T): T > 1 softens, T < 1 sharpens, T = 1 keeps them."""
    logits = np.log(np.clip(np.asarray(probabilities, float), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = np.asarray(probabilities, float)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (golden-section search on
    log T; the NLL is unimodal in it). Fit on validation data only."""
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(probabilities, float(np.exp(log_t))), labels)

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(60):
        if loss(c) < loss(d):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2))


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative
    (ties count half), by the rank-sum formula. NaN when one class is absent."""
    scores, positives = np.asarray(scores, float), np.asarray(positives, bool)
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over ties
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

