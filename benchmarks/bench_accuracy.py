"""Expression accuracy of the shipped model on FER+ test (8 classes) and FER2013 PrivateTest (7 classes).

    python benchmarks/bench_accuracy.py            # -> benchmarks/out/accuracy.json
"""

from __future__ import annotations

import argparse
import time

from common import data_root, save

import mien
from mien.eval.expression import evaluate, fer2013_original, ferplus_majority
from mien.io.images import read_image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expression", default="mnv2-ferplus")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    root = data_root()
    ferplus_root = root / "ferplus"
    background = read_image(root / "media" / "pyfeat" / "free-mountain-vector-01.jpg")
    analyzers = {
        "whole-image": mien.Analyzer(expression=args.expression, whole_image=True, threads=args.threads),
        "detected": mien.Analyzer(expression=args.expression, threads=args.threads),
    }
    results = {}
    for protocol, test_set in (("ferplus_8class", ferplus_majority(ferplus_root, "test")),
                               ("fer2013_7class", fer2013_original(ferplus_root, "test"))):
        for mode, analyzer in analyzers.items():
            started = time.time()
            report = evaluate(analyzer, ferplus_root, test_set, mode, background=background)
            report["seconds"] = round(time.time() - started, 1)
            results[f"{protocol}/{mode}"] = report
            print(f"{protocol:15s} {mode:12s} acc {report['accuracy']:.4f} uar {report['uar']:.4f} "
                  f"f1 {report['macro_f1']:.4f} no-face {report['no_prediction']}")
    save("accuracy", {"expression_model": args.expression, "results": results})


if __name__ == "__main__":
    main()
