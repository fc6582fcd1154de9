"""Registered expression models on mien's own RAF-DB validation split (carved from train, never a test
set), through mien's pipeline with ``--whole-image``: accuracy and mean class accuracy over RAF-DB's 7
classes. Used to choose which model is the fast variant without looking at a test split.

    python scripts/compare_on_rafdb_validation.py mfn64-raf-ferplus mnv2-ferplus-small
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mien import Analyzer
from mien.config import WHOLE_IMAGE
from mien.datasets.layouts import read_rafdb
from mien.eval.expression import predict_samples
from mien.schema import EXPRESSIONS
from mien.train.face_cache import rafdb_validation_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--rafdb", type=Path, default=Path("../shared/datasets/rafdb/basic"))
    args = parser.parse_args()
    samples = read_rafdb(args.rafdb, "train")
    labels = np.array([s.label for s in samples])
    held = [s for s, keep in zip(samples, rafdb_validation_split(labels)) if keep]
    truth = np.array([s.label for s in held])
    for name in args.models:
        probabilities = predict_samples(Analyzer(expression=name, detector=WHOLE_IMAGE, threads=2), held,
                                        "whole-image", None)
        probabilities[:, EXPRESSIONS.index("contempt")] = 0  # RAF-DB has no contempt
        predicted = np.where(np.isnan(probabilities).any(axis=1), -1, np.nan_to_num(probabilities).argmax(1))  # -1: missed
        recalls = [float((predicted[truth == c] == c).mean()) for c in np.unique(truth)]
        print(f"{name}: RAF-DB validation ({len(held)} faces) accuracy {(predicted == truth).mean():.4f}, "
              f"mean class accuracy {np.mean(recalls):.4f}")


if __name__ == "__main__":
    main()
