"""Aligned colour face crops of the training and validation sets, cached once as compressed arrays.

Every face is aligned exactly as the inference pipeline aligns it with ``--whole-image``: mien's own
detector finds 5 landmarks on the (scaled, padded) dataset crop (:func:`mien.detect.whole_image.landmarks_in_crop`),
and a similarity transform warps it onto the model's template. Faces
where nothing is found are kept, resized whole, and flagged (``aligned`` False), as ``--whole-image``
falls back at inference. One ``.npz`` per dataset and split, with:

- ``crops`` (N, S, S, 3) uint8 RGB (FER+ is grayscale replicated to 3 channels),
- ``targets`` (N, 8) float32 target distributions over :data:`mien.schema.EXPRESSIONS` (FER+ votes; one-hot
  for RAF-DB; for the noisy 4-class affectnet4 folders, one-hot of the folder label),
- ``labels`` (N,) canonical index of the majority class (-1 where FER+'s majority is unknown/not a face),
- ``names``, ``aligned`` (N,) bool, ``landmarks`` (N, 5, 2) in the dataset crop's pixels (NaN if not found).

    python -m mien.train.face_cache --data ../shared/datasets --out data_cache/faces112

takes about 15 minutes on 2 CPU cores for RAF-DB, FER+ and affectnet4 (about 70,000 faces); existing files
are kept, so an interrupted run resumes per dataset split.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from mien.align.similarity import ARCFACE_TEMPLATE, CropSpec, estimate_similarity
from mien.detect.whole_image import landmarks_in_crop
from mien.schema import EXPRESSIONS

# (dataset, split) -> where its faces come from; 'valid' of RAF-DB is carved from train by the trainer.
SPLITS = {"rafdb": ("train", "test"), "ferplus": ("train", "valid", "test"), "affectnet4": ("all",)}


@dataclass
class LabelledImage:
    name: str
    load: Callable[[], np.ndarray]  # -> RGB uint8 (H, W, 3)
    target: np.ndarray  # (8,) float32


def align_or_resize(image: np.ndarray, landmarks: np.ndarray, crop: CropSpec) -> np.ndarray:
    """The face warped onto the template when its landmarks are known, else the whole crop resized."""
    if np.isfinite(landmarks).all():
        matrix = estimate_similarity(landmarks, crop.template_pixels())
        return cv2.warpAffine(image, matrix, (crop.size, crop.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(image, (crop.size, crop.size), interpolation=cv2.INTER_LINEAR)


def one_hot(index: int) -> np.ndarray:
    target = np.zeros(len(EXPRESSIONS), np.float32)
    target[index] = 1.0
    return target


def _rgb(path: Path) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not a readable image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return load


def rafdb_images(root: Path, split: str) -> Iterator[LabelledImage]:
    from mien.datasets.layouts import read_rafdb

    for sample in read_rafdb(root / "rafdb" / "basic", split):
        yield LabelledImage(Path(sample.source).name, _rgb(Path(sample.source)), one_hot(sample.label))


def ferplus_images(root: Path, split: str) -> Iterator[LabelledImage]:
    """FER+ images with their vote distribution over the 8 classes (unknown / not-a-face votes dropped);
    images without any expression vote get an all-zero target."""
    from mien.datasets.layouts import read_ferplus

    for sample in read_ferplus(root / "ferplus", split):
        votes = sample.votes.astype(np.float32)
        target = votes / votes.sum() if votes.sum() > 0 else votes
        yield LabelledImage(Path(sample.source).name, _rgb(Path(sample.source)), target)


def affectnet4_images(root: Path, split: str) -> Iterator[LabelledImage]:
    base = root / "affectnet4"
    with open(base / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            yield LabelledImage(row["file"], _rgb(base / row["file"]), one_hot(EXPRESSIONS.index(row["label"])))


SOURCES = {"rafdb": rafdb_images, "ferplus": ferplus_images, "affectnet4": affectnet4_images}


def build_split(images: list[LabelledImage], detector, crop: CropSpec, log_every: int = 2000) -> dict[str, np.ndarray]:
    """Arrays of one dataset split (see the module docstring)."""
    crops = np.empty((len(images), crop.size, crop.size, 3), np.uint8)
    landmarks = np.full((len(images), 5, 2), np.nan, np.float32)
    started = time.time()
    for i, item in enumerate(images):
        image = item.load()
        landmarks[i] = landmarks_in_crop(detector, image)[0]
        crops[i] = align_or_resize(image, landmarks[i], crop)
        if (i + 1) % log_every == 0:
            print(f"  {i + 1}/{len(images)} faces, {time.time() - started:.0f} s", flush=True)
    targets = np.stack([item.target for item in images]).astype(np.float32)
    labels = np.where(targets.sum(1) > 0, targets.argmax(1), -1)
    return {"crops": crops, "targets": targets, "labels": labels, "names": np.array([i.name for i in images]),
            "aligned": np.isfinite(landmarks).all(axis=(1, 2)), "landmarks": landmarks}


RAFDB_VALID_FRACTION = 0.1


def rafdb_validation_split(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Boolean mask of RAF-DB train faces held out for validation: RAFDB_VALID_FRACTION of each class."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held[rng.choice(members, max(1, round(RAFDB_VALID_FRACTION * len(members))), replace=False)] = True
    return held


def save_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez_compressed(temporary, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def cache_path(out: Path, dataset: str, split: str) -> Path:
    return out / f"{dataset}_{split}.npz"


def load_split(out: Path, dataset: str, split: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The cached arrays of one split (only ``keys`` when given: the crops are the large ones)."""
    path = cache_path(out, dataset, split)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: face cache missing; build it with python -m mien.train.face_cache")
    with np.load(path) as data:
        return {key: data[key] for key in (keys or data.files)}


def main(argv: list[str] | None = None) -> None:
    from mien.detect.retinaface import RetinaFaceDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("data_cache/faces112"))
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--datasets", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--limit", type=int, default=None, help="at most this many faces per split (smoke tests)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    crop = CropSpec(args.size, ARCFACE_TEMPLATE.copy())
    detector = RetinaFaceDetector(threads=args.threads, score_threshold=0.5, min_size=32)
    for dataset in args.datasets:
        for split in SPLITS[dataset]:
            path = cache_path(args.out, dataset, split)
            if path.is_file():
                print(f"{path} exists, kept")
                continue
            images = list(SOURCES[dataset](args.data, split))[:args.limit]
            print(f"{dataset} {split}: {len(images)} faces", flush=True)
            arrays = build_split(images, detector, crop)
            save_atomically(path, arrays)
            print(f"  aligned {arrays['aligned'].mean():.4f} -> {path}", flush=True)


if __name__ == "__main__":
    main()
