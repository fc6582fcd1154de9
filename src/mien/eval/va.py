"""Valence/arousal regression metrics (numpy only): CCC, PCC, RMSE and SAGR, and a report over both axes.

Values are on the scale the caller uses (mien's is [-1, 1]). Every metric takes ``(pred, truth)`` of equal
length, drops the pairs where either side is NaN (a frame without a face, an unannotated frame) and needs at
least 2 pairs left; :func:`va_report` says how many pairs it dropped.

- CCC, Lin's concordance correlation coefficient (Lin 1989), the headline metric of AffectNet, AFEW-VA and
  the ABAW challenges: ``2 cov(p, t) / (var p + var t + (mean p - mean t)^2)`` with population (1/n) moments.
  It is the Pearson correlation penalised for any shift or scale difference; 1 is perfect agreement, -1
  perfect inversion.
- PCC, Pearson's correlation coefficient.
- RMSE, the root mean squared error (same unit as the inputs).
- SAGR, sign agreement (Kossaifi et al. 2017, AFEW-VA): the share of pairs whose signs agree (0 matches 0 only).

CCC and PCC are NaN where they are undefined (a constant series has no correlation).
"""

from __future__ import annotations

import numpy as np

from mien.io.frames import Frame
from mien.io.samples import read_sample

AXES = ("valence", "arousal")


def paired(pred, truth, name: str = "values") -> tuple[np.ndarray, np.ndarray, int]:
    """``(pred, truth, dropped)``: both as float arrays without the pairs holding a NaN, and how many pairs
    were dropped. ValueError when the lengths differ or fewer than 2 pairs are left."""
    pred = np.asarray(pred, dtype=float).ravel()
    truth = np.asarray(truth, dtype=float).ravel()
    if pred.shape != truth.shape:
        raise ValueError(f"{name}: {len(pred)} predictions but {len(truth)} ground-truth values")
    keep = ~(np.isnan(pred) | np.isnan(truth))
    if keep.sum() < 2:
        raise ValueError(f"{name}: need at least 2 (prediction, truth) pairs without NaN, got {int(keep.sum())}")
    return pred[keep], truth[keep], int((~keep).sum())


def ccc(pred, truth) -> float:
    """Lin's concordance correlation coefficient in [-1, 1] (NaN pairs dropped; NaN if both are constant)."""
    p, t, _ = paired(pred, truth, "ccc")
    denominator = p.var() + t.var() + (p.mean() - t.mean()) ** 2
    if denominator == 0:
        return float("nan")
    covariance = np.mean((p - p.mean()) * (t - t.mean()))
    return float(2 * covariance / denominator)


def pcc(pred, truth) -> float:
    """Pearson's correlation coefficient in [-1, 1] (NaN pairs dropped; NaN if either side is constant)."""
    p, t, _ = paired(pred, truth, "pcc")
    spread = p.std() * t.std()
    if spread == 0:
        return float("nan")
    return float(np.mean((p - p.mean()) * (t - t.mean())) / spread)


def rmse(pred, truth) -> float:
    """Root mean squared error, in the inputs' unit (NaN pairs dropped)."""
    p, t, _ = paired(pred, truth, "rmse")
    return float(np.sqrt(np.mean((p - t) ** 2)))


def sagr(pred, truth) -> float:
    """Sign agreement in [0, 1]: the share of pairs whose signs agree (NaN pairs dropped)."""
    p, t, _ = paired(pred, truth, "sagr")
    return float(np.mean(np.sign(p) == np.sign(t)))


def axis_report(pred, truth, name: str = "values") -> dict:
    """``{"n", "dropped", "ccc", "pcc", "rmse", "sagr"}`` for one axis; ``n`` counts the pairs used."""
    p, t, dropped = paired(pred, truth, name)
    return {"n": len(p), "dropped": dropped, "ccc": ccc(p, t), "pcc": pcc(p, t), "rmse": rmse(p, t),
            "sagr": sagr(p, t)}


def va_report(pred_valence, pred_arousal, true_valence, true_arousal) -> dict:
    """Metrics for valence and arousal, each computed on its own non-NaN pairs, plus their mean CCC:
    ``{"valence": {...}, "arousal": {...}, "mean_ccc": float}`` (see :func:`axis_report` for the keys)."""
    report = {
        "valence": axis_report(pred_valence, true_valence, "valence"),
        "arousal": axis_report(pred_arousal, true_arousal, "arousal"),
    }
    report["mean_ccc"] = float(np.mean([report[axis]["ccc"] for axis in AXES]))
    return report


def evaluate_va_dataset(analyzer, samples, limit: int | None = None) -> dict:
    """``mien evaluate va``: run ``analyzer`` on VA-labelled images (largest face each) and score its
    valence/arousal; images without a face count as dropped pairs. Names the method in the report."""
    samples = list(samples)[:limit]
    if not samples:
        raise ValueError("no valence/arousal-labelled samples to evaluate")
    predicted = np.full((len(samples), 2), np.nan, np.float32)
    for i, sample in enumerate(samples):
        result = analyzer.analyze_frames([Frame(sample.source, 0, read_sample(sample), 0.0)])
        if len(result):
            areas = (result.boxes[:, 2] - result.boxes[:, 0]) * (result.boxes[:, 3] - result.boxes[:, 1])
            k = int(np.argmax(areas))
            predicted[i] = result.valence[k], result.arousal[k]
    truth = np.array([[s.valence, s.arousal] for s in samples], np.float32)
    report = va_report(predicted[:, 0], predicted[:, 1], truth[:, 0], truth[:, 1])
    report.update(images=len(samples), faces_not_found=int(np.isnan(predicted[:, 0]).sum()),
                  method=analyzer.metadata["valence_arousal_method"])
    return report
