"""Expression datasets in the layouts users actually hold, read into one form: a list of :class:`Sample`.

Each reader maps the dataset's own labels onto mien's 8 canonical classes (``mien.schema.EXPRESSIONS``)
and keeps what the protocols need: the subject (for subject-independent folds), FER+ votes, and
valence/arousal where the dataset has them. Images are not decoded here: :func:`mien.io.samples.read_sample`
decodes a sample's image.

Readers (``read_dataset(name, root, split)``):

- ``ferplus``: Microsoft's FER+ layout, ``FER2013{Train,Valid,Test}/label.csv`` with 10 votes per image.
- ``fer2013-csv``: the original ``fer2013.csv`` (``emotion,pixels,Usage``; 0=angry ... 6=neutral).
- ``fer2013-folders``: the common image-folder export, ``train/<class>/*.png`` and ``test/<class>/*.png``.
- ``ckplus``: CK+48 class folders (``CK+48/<class>/Sxxx_yyy_zzzzzzzz.png``), subject = ``Sxxx``.
- ``rafdb``: RAF-DB basic, ``Image/aligned/*.jpg`` + ``EmoLabel/list_patition_label.txt`` (labels 1-7).
- ``affectnet``: manually annotated AffectNet, ``training.csv`` / ``validation.csv`` with
  ``subDirectory_filePath, ..., expression, valence, arousal`` and images under ``Manually_Annotated_Images/``.
- ``imagefolder``: any ``<root>/<split>/<class>/*`` (or ``<root>/<class>/*``) whose class names map onto
  the canonical classes (synonyms such as ``happiness``, ``angry``, ``sadness`` are understood).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from mien.config import IMAGE_EXTENSIONS
from mien.schema import EXPRESSIONS

# Names datasets use for the canonical classes.
CLASS_SYNONYMS = {
    "neutral": "neutral", "neutrality": "neutral",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "fear": "fear", "fearful": "fear", "afraid": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "anger": "anger", "angry": "anger",
    "contempt": "contempt",
}


@dataclass
class Sample:
    """One labelled face image."""

    source: str  # path, or "<file>:<row>" for images stored inside a table
    label: int  # index into EXPRESSIONS, -1 when the image has no usable expression label
    subject: str = ""  # for subject-independent splits
    votes: np.ndarray | None = None  # (8,) FER+ vote counts in canonical order
    valence: float | None = None  # [-1, 1] where the dataset has it
    arousal: float | None = None
    pixels: Callable[[], np.ndarray] | None = None  # loader for images stored inside a table


def canonical_index(name: str) -> int:
    """Canonical class index of a dataset's class name (case and common synonyms handled), -1 if none."""
    canonical = CLASS_SYNONYMS.get(name.strip().lower())
    return EXPRESSIONS.index(canonical) if canonical else -1


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path


# ----------------------------------------------------------------------------------------- FER+
def read_ferplus(root: Path, split: str) -> list[Sample]:
    from mien.datasets import ferplus

    data = ferplus.read_split(root, split)
    majority = data.majority()
    return [Sample(str(Path(root) / name), int(label), votes=votes)
            for name, label, votes in zip(data.names, majority, data.votes)]


# ----------------------------------------------------------------------------------------- FER2013
FER2013_CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # labels 0..6
FER2013_USAGE = {"train": "Training", "valid": "PublicTest", "test": "PrivateTest"}


def read_fer2013_csv(root: Path, split: str) -> list[Sample]:
    """``fer2013.csv`` (the file itself, or a folder holding it): 48x48 pixels as space-separated text."""
    path = Path(root)
    path = _require(path / "fer2013.csv" if path.is_dir() else path, "fer2013.csv")
    usage = FER2013_USAGE[split]
    samples = []
    with open(path, newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle)):
            if row["Usage"] != usage:
                continue
            text = row["pixels"]
            label = EXPRESSIONS.index(FER2013_CLASSES[int(row["emotion"])])
            samples.append(Sample(f"{path}:{row_number}", label, pixels=_pixel_loader(text)))
    return samples


def _pixel_loader(text: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        values = np.array(text.split(), dtype=np.uint8)
        side = int(round(np.sqrt(values.size)))
        if side * side != values.size:
            raise ValueError(f"pixel row of length {values.size} is not a square image")
        return values.reshape(side, side)

    return load


def read_imagefolder(root: Path, split: str | None = None) -> list[Sample]:
    """``<root>/<split>/<class>/*`` or ``<root>/<class>/*``; folders whose name is no known class are refused."""
    base = Path(root)
    if split is not None:
        candidates = [base / split, base / {"valid": "val", "test": "test", "train": "train"}.get(split, split)]
        base = next((c for c in candidates if c.is_dir()), None) or _require(candidates[0], f"split folder '{split}'")
    folders = sorted(p for p in _require(base, "dataset folder").iterdir() if p.is_dir())
    unknown = [p.name for p in folders if canonical_index(p.name) < 0]
    if unknown:
        raise ValueError(f"{base}: class folders {unknown} do not map onto {', '.join(EXPRESSIONS)}")
    return [Sample(str(path), canonical_index(folder.name))
            for folder in folders for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_EXTENSIONS]


# ----------------------------------------------------------------------------------------- CK+
def read_ckplus(root: Path, split: str | None = None) -> list[Sample]:
    """CK+48 class folders; ``subject`` is the ``Sxxx`` prefix (use it for subject-grouped folds)."""
    base = Path(root)
    base = base / "CK+48" if (base / "CK+48").is_dir() else base
    samples = read_imagefolder(base)
    for sample in samples:
        sample.subject = Path(sample.source).name.split("_")[0]
    return samples


def ckplus_folds(root: Path) -> dict[str, int]:
    """Sequence id (``Sxxx_yyy``) -> fold (0-9) from the widely used ``folds_10.txt``, whose fold headers
    read ``1-fold 33 Angry 2 ...`` and whose lines read ``S130/007 Angry``."""
    path = _require(Path(root) / "folds_10.txt", "CK+ folds_10.txt")
    folds: dict[str, int] = {}
    fold = -1
    for line in path.read_text().splitlines():
        words = line.split()
        if not words:
            continue
        header = re.match(r"^(\d+)-fold$", words[0])
        if header:
            fold = int(header.group(1)) - 1
        elif fold >= 0:
            folds[words[0].replace("/", "_")] = fold
    return folds


# ----------------------------------------------------------------------------------------- RAF-DB
RAFDB_CLASSES = ("surprise", "fear", "disgust", "happy", "sad", "anger", "neutral")  # labels 1..7


def read_rafdb(root: Path, split: str) -> list[Sample]:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` lines ``train_00001.jpg 5``; aligned images in
    ``Image/aligned/train_00001_aligned.jpg``."""
    base = Path(root)
    labels = _require(base / "EmoLabel" / "list_patition_label.txt", "RAF-DB label list")
    prefix = {"train": "train", "test": "test"}.get(split)
    if prefix is None:
        raise ValueError("RAF-DB has the splits 'train' and 'test'")
    samples = []
    for line in labels.read_text().splitlines():
        if not line.strip():
            continue
        name, label = line.split()
        if not name.startswith(prefix):
            continue
        stem = Path(name).stem
        image = base / "Image" / "aligned" / f"{stem}_aligned.jpg"
        samples.append(Sample(str(image), EXPRESSIONS.index(RAFDB_CLASSES[int(label) - 1])))
    return samples


# ----------------------------------------------------------------------------------------- AffectNet
AFFECTNET_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")  # 0..7


def read_affectnet(root: Path, split: str) -> list[Sample]:
    """AffectNet (manually annotated): ``training.csv`` / ``validation.csv``. Expression 0-7 map onto the
    canonical classes; 8-10 (none, uncertain, non-face) become label -1 but keep valence/arousal when
    given (-2 means "not annotated")."""
    samples = []
    for image, row in affectnet_rows(root, split):
        label = affectnet_label(int(row["expression"]))
        valence, arousal = float(row["valence"]), float(row["arousal"])
        samples.append(Sample(
            image, label,
            valence=None if valence == -2 else valence, arousal=None if arousal == -2 else arousal,
        ))
    return samples


def affectnet_label(code: int) -> int:
    """Canonical class index of an AffectNet expression code (0-7), -1 for 8-10 (none, uncertain, non-face)."""
    return EXPRESSIONS.index(AFFECTNET_CLASSES[code]) if 0 <= code < len(AFFECTNET_CLASSES) else -1


def affectnet_rows(root: Path, split: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``(image path, row)`` for each row of AffectNet's ``training.csv`` (split ``train``) or
    ``validation.csv`` (``valid``), the row as a dict of strings keyed by the CSV header. Shared by
    :func:`read_affectnet` and :func:`mien.datasets.va_layouts.read_affectnet_va`. The CSVs may also sit in
    ``Manually_Annotated_file_lists/`` and the images in ``Manually_Annotated/Manually_Annotated_Images/``,
    as the download unpacks."""
    base = Path(root)
    table = affectnet_table(base, split)
    nested = base / "Manually_Annotated" / "Manually_Annotated_Images"
    images = nested if nested.is_dir() and not (base / "Manually_Annotated_Images").is_dir() else (
        base / "Manually_Annotated_Images")
    with open(table, newline="") as handle:
        for row in csv.DictReader(handle):
            yield str(images / row["subDirectory_filePath"]), row


def affectnet_table(root: Path, split: str) -> Path:
    """The CSV of AffectNet's ``train`` or ``valid`` split, in ``root`` or ``root/Manually_Annotated_file_lists``."""
    if split not in ("train", "valid"):
        raise ValueError("AffectNet's public splits are 'train' and 'valid' (its test set is not released)")
    name = {"train": "training.csv", "valid": "validation.csv"}[split]
    listed = Path(root) / "Manually_Annotated_file_lists" / name
    return listed if listed.is_file() else _require(Path(root) / name, f"AffectNet {split} CSV")


READERS = {
    "ferplus": read_ferplus,
    "fer2013-csv": read_fer2013_csv,
    "fer2013-folders": read_imagefolder,
    "ckplus": read_ckplus,
    "rafdb": read_rafdb,
    "affectnet": read_affectnet,
    "imagefolder": read_imagefolder,
}


def read_dataset(name: str, root: str | Path, split: str = "test") -> list[Sample]:
    """Samples of dataset ``name`` (see the module docstring) under ``root``."""
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(READERS)}")
    return READERS[name](Path(root), split)
