"""Calibrate a shipped expression model on validation data and store the result in its ONNX file.

    python -m mien.train.calibrate src/mien/models/weights/mnv2-ferplus.onnx --root ../shared/datasets/ferplus \
        --background ../shared/datasets/media/pyfeat/free-mountain-vector-01.jpg --report runs/calibration.json

Validation faces go through the real pipeline: FER+ valid (enlarged into 640x480 frames, detected, aligned)
and, with ``--rafdb ROOT``, the RAF-DB validation faces that mien's trainers carve out of RAF-DB train
(:func:`mien.train.face_cache.rafdb_validation_split`; detected in the released images). The temperature
minimising the negative log-likelihood of their labels (FER+ majority, RAF-DB labels) is stored as
``mien.temperature``; ``mien.uncertain_below`` is the calibrated top probability below which a face is
flagged uncertain: the level that flags the ``flag_share`` least confident labelled validation faces.
Only the validation split is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rafdb_validation_samples(root: Path) -> list:
    """The RAF-DB faces held out of training for validation (RAF-DB ``basic`` folder)."""
    from mien.datasets.layouts import read_rafdb
    from mien.train.face_cache import rafdb_validation_split

    train = read_rafdb(root, "train")
    held = rafdb_validation_split(np.array([s.label for s in train]))
    return [s for s, h in zip(train, held) if h]


def calibrate(model: Path, root: Path, background: Path, flag_share: float = 0.10, threads: int = 2,
              limit: int | None = None, rafdb: Path | None = None) -> dict:
    from mien.analyzer import Analyzer
    from mien.datasets.layouts import read_dataset
    from mien.eval.expression import predict_samples
    from mien.eval.metrics import apply_temperature, auroc, expected_calibration_error, fit_temperature
    from mien.io.images import read_image

    analyzer = Analyzer(expression=str(model), threads=threads)
    analyzer.expression.temperature = 1.0  # calibrate from the raw network output
    samples = read_dataset("ferplus", root, "valid")[:limit]
    probabilities = predict_samples(analyzer, samples, "framed", read_image(background))
    if rafdb is not None:
        raf = rafdb_validation_samples(rafdb)[:limit]
        probabilities = np.concatenate([probabilities, predict_samples(analyzer, raf, "detect")])
        samples = samples + raf
    labels = np.array([s.label for s in samples])
    found = ~np.isnan(probabilities).any(axis=1)
    labelled = found & (labels >= 0)
    temperature = fit_temperature(probabilities[labelled], labels[labelled])
    calibrated = apply_temperature(probabilities[found], temperature)
    confidence = calibrated.max(axis=1)
    known = labels[found] >= 0
    uncertain_below = float(np.quantile(confidence[known], flag_share))
    return {
        "temperature": temperature,
        "uncertain_below": uncertain_below,
        "flag_share": flag_share,
        "valid_faces": int(found.sum()),
        "valid_not_found": int((~found).sum()),
        "ece_before": expected_calibration_error(probabilities[labelled], labels[labelled]),
        "ece_after": expected_calibration_error(apply_temperature(probabilities[labelled], temperature), labels[labelled]),
        "unknown_or_not_face_auroc_valid": auroc(1 - confidence, ~known),
    }


def write_metadata(model: Path, values: dict[str, str]) -> None:
    """Set ``mien.*`` metadata entries of an ONNX file in place (atomically)."""
    import onnx

    graph = onnx.load(str(model))
    kept = [p for p in graph.metadata_props if p.key not in values]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    for key, value in values.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    from mien.io.writers import write_atomic

    write_atomic(model, graph.SerializeToString())


if __name__ == "__main__":  # python -m mien.train.calibrate ...: the same as mien calibrate ...
    import runpy
    import sys

    sys.argv[1:1] = ["calibrate"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
