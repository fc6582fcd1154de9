"""Expression accuracy protocols on FER+ / FER2013, run through mien's own pipeline.

Two ways to feed the test crops:

* ``whole-image``: each 48x48 crop is the face (``Analyzer(whole_image=True)``);
* ``detected``: each crop is enlarged 3x and pasted into a 640x480 real background, then found by the
  detector and aligned like any photo; a crop where no face is found counts as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mien.datasets import ferplus
from mien.eval.metrics import classification_report
from mien.io.samples import read_sample
from mien.schema import EXPRESSIONS

FER2013_CLASSES = [name for name in EXPRESSIONS if name != "contempt"]  # the 7 original FER2013 classes
FRAME_SIZE = (480, 640)  # height, width of the synthetic frames for the "detected" protocol
FACE_UPSCALE = 3


@dataclass
class ExpressionTestSet:
    names: list[str]
    labels: np.ndarray  # class indices into ``class_names``
    class_names: list[str]


def ferplus_official(root: Path, split: str = "test") -> ExpressionTestSet:
    """FER+ 8-class "majority" protocol of the FER+ authors (the one published results use): single votes
    dropped, a class needs more than half of the remaining votes, unknown / not-a-face dropped."""
    data = ferplus.read_split(root, split)
    label = data.official_majority()
    keep = np.flatnonzero(label >= 0)
    return ExpressionTestSet([data.names[i] for i in keep], label[keep], list(EXPRESSIONS))


def ferplus_majority(root: Path, split: str = "test") -> ExpressionTestSet:
    """FER+ 8-class plurality protocol (mien's training target selection): every image whose most-voted
    class is an expression; harder than :func:`ferplus_official` (ties and split votes kept)."""
    data = ferplus.read_split(root, split)
    majority = data.majority()
    keep = np.flatnonzero(majority >= 0)
    return ExpressionTestSet([data.names[i] for i in keep], majority[keep], list(EXPRESSIONS))


def fer2013_original(root: Path, split: str = "test") -> ExpressionTestSet:
    """FER2013 7-class protocol with the ORIGINAL labels (split "test" = PrivateTest)."""
    data = ferplus.read_split(root, split)
    labels = ferplus.read_fer2013_labels(root)
    names = [n for n in data.names if n in labels]
    return ExpressionTestSet(names, np.array([FER2013_CLASSES.index(labels[n]) for n in names]), FER2013_CLASSES)


def frame_face(gray: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste a grayscale face crop, enlarged 3x (or shrunk to fit half the frame), at a random place in an
    RGB background."""
    frame = background.copy()
    scale = min(FACE_UPSCALE, 0.5 * frame.shape[0] / gray.shape[0], 0.5 * frame.shape[1] / gray.shape[1])
    face = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                      interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    height, width = face.shape
    top = int(rng.integers(0, frame.shape[0] - height + 1))
    left = int(rng.integers(0, frame.shape[1] - width + 1))
    frame[top:top + height, left:left + width] = face[..., None]
    return frame


def evaluate(analyzer, root: Path, test_set: ExpressionTestSet, mode: str, background: np.ndarray | None = None,
             seed: int = 0, batch: int = 64) -> dict:
    """Run ``analyzer`` on every test image (``mode`` "whole-image" or "detected"); returns the report.

    The FER+ protocols of the benchmarks, on the same code path as ``mien evaluate`` (:func:`predict_samples`,
    :func:`expression_report`): "detected" is the "framed" input mode.
    """
    from mien.datasets.layouts import Sample

    if mode not in ("whole-image", "detected"):
        raise ValueError(f"mode must be 'whole-image' or 'detected', got {mode!r}")
    samples = [Sample(str(Path(root) / name), int(label), pixels=lambda name=name: ferplus.load_gray(root, name))
               for name, label in zip(test_set.names, test_set.labels)]
    probabilities = predict_samples(analyzer, samples, "framed" if mode == "detected" else "whole-image",
                                    background, seed, batch)
    report = expression_report(probabilities, test_set.labels, test_set.class_names)
    report["mode"] = mode
    return report


# ------------------------------------------------------------------------ any dataset (mien evaluate)
INPUT_MODES = ("detect", "whole-image", "framed")


def predict_samples(analyzer, samples, mode: str = "detect", background: np.ndarray | None = None,
                    seed: int = 0, batch: int = 64) -> np.ndarray:
    """Probabilities (N, 8) for each sample from its highest-scoring face; NaN rows where none was found.

    ``mode``: ``detect`` runs the pipeline on the image as it is; ``whole-image`` needs an analyzer made
    with ``whole_image=True``; ``framed`` pastes small crops (enlarged 3x) into ``background`` first.
    """
    if mode not in INPUT_MODES:
        raise ValueError(f"mode must be one of {INPUT_MODES}, got {mode!r}")
    rng = np.random.default_rng(seed)
    if mode == "framed":
        if background is None:
            raise ValueError("the framed mode needs a background image")
        background = cv2.resize(background, FRAME_SIZE[::-1], interpolation=cv2.INTER_AREA)
    out = np.full((len(samples), len(EXPRESSIONS)), np.nan, np.float32)
    for start in range(0, len(samples), batch):
        images = []
        for sample in samples[start:start + batch]:
            image = read_sample(sample)
            images.append(frame_face(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), background, rng)
                          if mode == "framed" else image)
        result = analyzer.analyze(images)
        first = result[result.face_id == 0]
        out[start + first.frame_index] = first.expression_probs
    return out


def expression_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str],
                      temperature: float | None = None) -> dict:
    """Accuracy, UAR, macro-F1, per-class table, confusion, faces not found, and ECE before/after
    ``temperature`` (probabilities restricted and renormalised to ``class_names``)."""
    from mien.eval.metrics import apply_temperature, expected_calibration_error

    columns = [EXPRESSIONS.index(name) for name in class_names]
    found = ~np.isnan(probabilities).any(axis=1)
    restricted = probabilities[:, columns]
    restricted = restricted / np.where(found, restricted.sum(axis=1), 1.0)[:, None]
    predictions = np.where(found, np.nan_to_num(restricted).argmax(axis=1), -1)
    report = classification_report(labels, predictions, class_names)
    report["faces_not_found"] = int((~found).sum())
    report["ece"] = expected_calibration_error(restricted[found], labels[found])
    if temperature is not None:
        report["temperature"] = temperature
        report["ece_calibrated"] = expected_calibration_error(apply_temperature(restricted[found], temperature),
                                                              labels[found])
    return report


def class_names_for(classes: int = 8) -> list[str]:
    """The classes scored: all 8, or 7 without contempt (the FER2013 protocol)."""
    if classes not in (7, 8):
        raise ValueError(f"classes must be 7 or 8, got {classes!r}")
    return [name for name in EXPRESSIONS if classes == 8 or name != "contempt"]


def labelled_samples(dataset: str, root: Path, split: str, class_names: list[str], limit: int | None = None):
    """The samples of ``split`` whose label is among ``class_names`` (at most ``limit``), and their labels
    as indices into ``class_names``."""
    from mien.datasets.layouts import read_dataset

    samples = [s for s in read_dataset(dataset, root, split)
               if s.label >= 0 and EXPRESSIONS[s.label] in class_names][:limit]
    labels = np.array([class_names.index(EXPRESSIONS[s.label]) for s in samples])
    return samples, labels


def fit_restricted_temperature(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> float:
    """The temperature that best calibrates ``probabilities`` (N, 8; NaN rows: no face) restricted and
    renormalised to ``class_names``, for ``labels`` (indices into ``class_names``)."""
    from mien.eval.metrics import fit_temperature

    found = ~np.isnan(probabilities).any(axis=1)
    columns = [EXPRESSIONS.index(c) for c in class_names]
    restricted = probabilities[found][:, columns]
    return fit_temperature(restricted / restricted.sum(1, keepdims=True), labels[found])


def evaluate_expression(analyzer, dataset: str, root: Path, split: str = "test", classes: int = 8,
                        mode: str = "detect", background: np.ndarray | None = None,
                        calibrate_on: str | None = None, limit: int | None = None) -> dict:
    """Score ``analyzer``'s expression model on a labelled dataset (:func:`mien.datasets.layouts.read_dataset`).

    ``classes``: 8, or 7 without contempt; ``mode``/``background`` as for :func:`predict_samples` (the
    analyzer must skip detection for ``whole-image``); ``calibrate_on``: another split on which a temperature
    is fitted from the raw network output (the model's own temperature is set to 1 meanwhile, then restored),
    reported as ``temperature`` and ``ece_calibrated``. Returns :func:`expression_report`'s dict plus
    ``dataset``, ``split``, ``input``, ``model_temperature`` and ``calibrated_on``.
    """
    if calibrate_on is not None and calibrate_on == split:
        raise ValueError("--calibrate-on must name another split than the one evaluated")
    class_names = class_names_for(classes)
    model_temperature = analyzer.expression.temperature
    temperature = None
    if calibrate_on:  # refit from the raw network output, whatever the model shipped with
        analyzer.expression.temperature = 1.0
        samples, labels = labelled_samples(dataset, root, calibrate_on, class_names, limit)
        temperature = fit_restricted_temperature(predict_samples(analyzer, samples, mode, background), labels,
                                                 class_names)
    samples, labels = labelled_samples(dataset, root, split, class_names, limit)
    report = expression_report(predict_samples(analyzer, samples, mode, background), labels, class_names, temperature)
    report.update(dataset=dataset, split=split, input=mode, model_temperature=model_temperature,
                  calibrated_on=calibrate_on)
    return report
