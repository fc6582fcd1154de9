"""Training data for the expression trainer: aligned crops and targets from FER+, FER2013 or CK+.

Every source gives the same thing (:class:`TrainingData`): uint8 crops aligned exactly as the inference
pipeline aligns faces (mien's own detector's landmarks warped onto the model's template), per-image target
distributions over the 8 canonical classes, and a held-out split with its labels and the classes it scores.

- ``ferplus``: FER+ train / valid; targets are the 10-annotator vote distributions (or majority one-hot).
- ``fer2013``: the same images with the ORIGINAL 7-class FER2013 labels (Training / PublicTest); contempt
  never occurs and is not scored.
- ``ckplus``: CK+48 with the subject-grouped ``folds_10.txt``; fold ``k`` is held out, the other nine train.
  Held-out = test here, so the trainer never selects on it (see ``select``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from mien.align.similarity import CropSpec, estimate_similarity
from mien.datasets import ferplus
from mien.schema import EXPRESSIONS

DATASETS = ("ferplus", "fer2013", "ckplus")


@dataclass
class TrainingData:
    train: np.ndarray  # (N, S, S) uint8 aligned crops
    targets: np.ndarray  # (N, 8) float32 target distributions, canonical class order
    valid: np.ndarray  # (M, S, S) uint8 held-out crops
    valid_labels: np.ndarray  # (M,) canonical class indices
    scored_classes: list[int]  # canonical indices the held-out accuracy chooses among
    raw: np.ndarray | None = None  # (N, S, S) the training faces unaligned (for --raw-share)
    select: bool = True  # False when the held-out split is a test split: keep the last epoch, never the best
    train_names: list[str] | None = None


def warp_crops(images: list[np.ndarray], points: list[np.ndarray | None], crop: CropSpec) -> np.ndarray:
    """(N, S, S) uint8: faces with finite landmarks warped onto the template, the rest resized whole."""
    out = np.empty((len(images), crop.size, crop.size), np.uint8)
    target = crop.template_pixels()
    for i, (gray, landmarks) in enumerate(zip(images, points)):
        if landmarks is not None and np.isfinite(landmarks).all():
            matrix = estimate_similarity(landmarks, target)
            out[i] = cv2.warpAffine(gray, matrix, (crop.size, crop.size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
        else:
            out[i] = cv2.resize(gray, (crop.size, crop.size), interpolation=cv2.INTER_LINEAR)
    return out


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(len(EXPRESSIONS), dtype=np.float32)[labels]


def template_from_landmarks(landmarks: np.ndarray, scores: np.ndarray, source_size: int = 48) -> np.ndarray:
    """Median landmark layout (unit coordinates) of confidently detected training faces."""
    confident = scores > 0.9
    return np.median(landmarks[confident], axis=0) / source_size


# ------------------------------------------------------------------------------------- FER+ / FER2013
def ferplus_data(root: Path, crop: CropSpec, landmarks: dict[str, np.ndarray] | None, limit: int | None,
                 hard_labels: bool, raw: bool) -> TrainingData:
    splits = {name: ferplus.read_split(root, name) for name in ("train", "valid")}
    keep = {name: np.flatnonzero(split.majority() >= 0)[:limit] for name, split in splits.items()}
    names = {name: [splits[name].names[i] for i in keep[name]] for name in splits}
    targets = splits["train"].distribution()[keep["train"]].astype(np.float32)
    if hard_labels:
        targets = one_hot(targets.argmax(1))
    return TrainingData(
        train=ferplus_crops(root, names["train"], crop, landmarks), targets=targets,
        valid=ferplus_crops(root, names["valid"], crop, landmarks),
        valid_labels=splits["valid"].majority()[keep["valid"]], scored_classes=list(range(len(EXPRESSIONS))),
        raw=ferplus_crops(root, names["train"], crop, None) if raw else None, train_names=names["train"])


def fer2013_data(root: Path, crop: CropSpec, landmarks: dict[str, np.ndarray] | None, limit: int | None,
                 raw: bool) -> TrainingData:
    """FER2013 7-class protocol: train on Training, select on PublicTest (FER+'s train / valid images)."""
    original = ferplus.read_fer2013_labels(root)
    names, labels = {}, {}
    for split in ("train", "valid"):
        listed = [n for n in ferplus.read_split(root, split).names if n in original][:limit]
        names[split] = listed
        labels[split] = np.array([EXPRESSIONS.index(original[n]) for n in listed])
    return TrainingData(
        train=ferplus_crops(root, names["train"], crop, landmarks), targets=one_hot(labels["train"]),
        valid=ferplus_crops(root, names["valid"], crop, landmarks), valid_labels=labels["valid"],
        scored_classes=[EXPRESSIONS.index(c) for c in EXPRESSIONS if c != "contempt"],
        raw=ferplus_crops(root, names["train"], crop, None) if raw else None, train_names=names["train"])


def ferplus_crops(root: Path, names: list[str], crop: CropSpec, landmarks: dict[str, np.ndarray] | None) -> np.ndarray:
    images = [ferplus.load_gray(root, name) for name in names]
    points = [None if landmarks is None else landmarks.get(name) for name in names]
    return warp_crops(images, points, crop)


def load_landmarks(path: Path | None) -> tuple[dict[str, np.ndarray] | None, np.ndarray | None]:
    """FER+ landmarks cache (``mien.train.ferplus_landmarks``) and the template they imply."""
    if path is None:
        return None, None
    data = np.load(path)
    names, points, scores = data["names"], data["landmarks"], data["scores"]
    train = np.array([n.startswith(ferplus.SPLITS["train"]) for n in names])
    template = template_from_landmarks(points[train], scores[train])
    return {str(n): p for n, p in zip(names, points)}, template


# ------------------------------------------------------------------------------------------------ CK+
@lru_cache(maxsize=2)
def ckplus_faces(root: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every CK+48 image: names, (N, 48, 48) gray, labels, fold, and landmarks from mien's detector."""
    from mien.datasets.layouts import ckplus_folds, read_ckplus
    from mien.detect.retinaface import RetinaFaceDetector
    from mien.io.samples import read_sample
    from mien.train.ferplus_landmarks import detect_crop_landmarks

    samples = read_ckplus(Path(root))
    folds = ckplus_folds(Path(root))
    detector = RetinaFaceDetector(threads=2, score_threshold=0.5, min_size=64)
    names, images, labels, fold_of, points = [], [], [], [], []
    for sample in samples:
        name = Path(sample.source).name
        sequence = "_".join(name.split("_")[:2])
        if sequence not in folds:
            continue
        gray = cv2.cvtColor(read_sample(sample), cv2.COLOR_RGB2GRAY)
        names.append(name)
        images.append(gray)
        labels.append(sample.label)
        fold_of.append(folds[sequence])
        points.append(detect_crop_landmarks(detector, gray)[0])
    return names, np.stack(images), np.array(labels), np.array(fold_of), np.stack(points)


def ckplus_data(root: Path, crop: CropSpec, fold: int, limit: int | None) -> TrainingData:
    names, images, labels, folds, points = ckplus_faces(str(root))
    train, test = np.flatnonzero(folds != fold)[:limit], np.flatnonzero(folds == fold)[:limit]
    crops = warp_crops(list(images), list(points), crop)
    present = sorted(set(labels.tolist()))
    return TrainingData(train=crops[train], targets=one_hot(labels[train]), valid=crops[test],
                        valid_labels=labels[test], scored_classes=present, select=False,
                        train_names=[names[i] for i in train])


def ckplus_template(root: Path) -> np.ndarray:
    _, images, _, _, points = ckplus_faces(str(root))
    found = np.isfinite(points).all(axis=(1, 2))
    return np.median(points[found], axis=0) / images.shape[1]


def load_training_data(dataset: str, root: Path, crop: CropSpec, *, landmarks=None, limit=None, fold=0,
                       hard_labels=False, raw=False) -> TrainingData:
    if dataset == "ferplus":
        return ferplus_data(root, crop, landmarks, limit, hard_labels, raw)
    if dataset == "fer2013":
        return fer2013_data(root, crop, landmarks, limit, raw)
    if dataset == "ckplus":
        if raw or hard_labels or landmarks is not None:
            raise ValueError("--dataset ckplus: labels are one-hot and landmarks come from mien's detector; "
                             "--raw-share, --hard-labels and --landmarks do not apply")
        return ckplus_data(root, crop, fold, limit)
    raise ValueError(f"unknown training dataset {dataset!r}; choose from {', '.join(DATASETS)}")
