"""Expression accuracy of the shipped model on FER+ test (8 classes) and FER2013 PrivateTest (7 classes).

    python benchmarks/bench_accuracy.py            # -> benchmarks/out/accuracy.json
"""

from __future__ import annotations

import argparse
import time

from common import data_root, save

import mien
from mien.eval.expression import evaluate, fer2013_original, ferplus_majority, ferplus_official
from mien.io.images import read_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expression", default="mnv2-ferplus")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-as", default="accuracy", help="name of the JSON result in benchmarks/out")
    args = parser.parse_args()
    root = data_root()
    ferplus_root = root / "ferplus"
    background = read_image(root / "media" / "pyfeat" / "free-mountain-vector-01.jpg")
    analyzers = {
        "whole-image": mien.Analyzer(expression=args.expression, detector="whole-image", threads=args.threads),
        "detected": mien.Analyzer(expression=args.expression, threads=args.threads),
    }
    results = {}
    for protocol, test_set in (("ferplus_official", ferplus_official(ferplus_root, "test")),
                               ("ferplus_plurality", ferplus_majority(ferplus_root, "test")),
                               ("fer2013_7class", fer2013_original(ferplus_root, "test"))):
        for mode, analyzer in analyzers.items():
            started = time.time()
            report = evaluate(analyzer, ferplus_root, test_set, mode, background=background)
            report["seconds"] = round(time.time() - started, 1)
            results[f"{protocol}/{mode}"] = report
            print(f"{protocol:15s} {mode:12s} acc {report['accuracy']:.4f} uar {report['uar']:.4f} "
                  f"f1 {report['macro_f1']:.4f} no-face {report['no_prediction']}")
    results_uncertainty = uncertainty(analyzers["detected"], ferplus_root, background)
    print("uncertainty:", results_uncertainty)
    save(args.save_as, {"expression_model": args.expression, "results": results, "uncertainty": results_uncertainty})


def uncertainty(analyzer, root, background) -> dict:
    """How well the ``uncertain`` flag and (1 - top probability) single out FER+ test images whose
    majority vote was unknown / not-a-face, and how calibrated the shipped probabilities are."""
    import numpy as np

    from mien.datasets.layouts import read_dataset
    from mien.eval.expression import predict_samples
    from mien.eval.metrics import auroc, expected_calibration_error

    samples = read_dataset("ferplus", root, "test")
    labels = np.array([s.label for s in samples])
    probabilities = predict_samples(analyzer, samples, "framed", background)
    found = ~np.isnan(probabilities).any(axis=1)
    confidence = probabilities[found].max(axis=1)
    unknown = labels[found] < 0
    threshold = analyzer.expression.uncertain_below
    flagged = confidence < threshold if threshold is not None else np.zeros_like(unknown)
    labelled = found & (labels >= 0)
    return {
        "temperature": analyzer.expression.temperature,
        "uncertain_below": threshold,
        "ece": expected_calibration_error(probabilities[labelled], labels[labelled]),
        "unknown_images": int(unknown.sum()),
        "auroc_unknown": auroc(1 - confidence, unknown),
        "flagged_share_unknown": float(flagged[unknown].mean()) if unknown.any() else None,
        "flagged_share_labelled": float(flagged[~unknown].mean()),
    }


if __name__ == "__main__":
    main()
