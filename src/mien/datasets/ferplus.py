"""FER+ in Microsoft's official layout: ``FER2013{Train,Valid,Test}/`` with ``label.csv`` vote counts.

``label.csv`` has no header; columns are ``name, face box`` then the votes of 10 annotators for
``neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mien.schema import EXPRESSIONS

SPLITS = {"train": "FER2013Train", "valid": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_VOTE_ORDER = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt")
# column in label.csv's vote block for each canonical class
_CANONICAL_FROM_VOTES = [FERPLUS_VOTE_ORDER.index(name) for name in EXPRESSIONS]


@dataclass
class FerPlusSplit:
    """One split: image names (``<folder>/<file>``), 8-class vote counts in canonical order, and
    the unknown/not-a-face votes."""

    names: list[str]
    votes: np.ndarray  # (N, 8) int, canonical class order
    unknown_votes: np.ndarray  # (N,) int
    not_face_votes: np.ndarray  # (N,) int

    def majority(self) -> np.ndarray:
        """Most-voted class per image (plurality; ties go to the first class in canonical order), or -1
        where unknown / not-a-face has as many votes. Keeps more (and harder) images than
        :meth:`official_majority`."""
        best = self.votes.argmax(axis=1)
        top = self.votes.max(axis=1)
        excluded = np.maximum(self.unknown_votes, self.not_face_votes) >= top
        return np.where(excluded, -1, best)

    def official_majority(self) -> np.ndarray:
        """Label per image under the FER+ authors' "majority" protocol (microsoft/FERPlus), or -1.

        Single votes are dropped as outliers; an image keeps the class holding more than half of the
        remaining votes (unknown and not-a-face included in the count), and is dropped (-1) when there is
        no such class or it is unknown / not-a-face. Published FER+ results use this protocol.
        """
        votes = np.concatenate([self.votes, self.unknown_votes[:, None], self.not_face_votes[:, None]], axis=1)
        votes = np.where(votes <= 1, 0, votes)
        top = votes.argmax(axis=1)
        clear = votes.max(axis=1) > 0.5 * votes.sum(axis=1)
        return np.where(clear & (top < self.votes.shape[1]), top, -1)

    def distribution(self) -> np.ndarray:
        """Per-image label distribution over the 8 classes (votes normalised, unknown/NF ignored)."""
        totals = self.votes.sum(axis=1, keepdims=True)
        return self.votes / np.maximum(totals, 1)


def read_split(root: Path, split: str) -> FerPlusSplit:
    folder = Path(root) / SPLITS[split]
    label_file = folder / "label.csv"
    if not label_file.is_file():
        raise FileNotFoundError(f"{label_file}: FER+ label file not found (is {root} a FER+ root?)")
    names, votes, unknown, not_face = [], [], [], []
    with open(label_file, newline="") as handle:
        for row in csv.reader(handle):
            counts = [int(v) for v in row[2:12]]
            names.append(f"{SPLITS[split]}/{row[0]}")
            votes.append([counts[i] for i in _CANONICAL_FROM_VOTES])
            unknown.append(counts[8])
            not_face.append(counts[9])
    return FerPlusSplit(names, np.array(votes), np.array(unknown), np.array(not_face))


FER2013_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy", "sad": "sad",
                  "surprise": "surprise", "neutral": "neutral"}  # original FER2013 names -> canonical


def read_fer2013_labels(root: Path) -> dict[str, str]:
    """Original 7-class FER2013 label (canonical spelling) per image name, from FER+'s ``manifest.csv``."""
    manifest = Path(root) / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest with the original FER2013 labels not found")
    with open(manifest, newline="") as handle:
        return {row["png"]: FER2013_LABELS[row["fer2013_label"]] for row in csv.DictReader(handle)}


def load_gray(root: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(Path(root) / name), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"{Path(root) / name}: cannot read image")
    return image


def confident_neutral_ferplus(root: Path, min_votes: int = 9) -> list[str]:
    """FER+ training images (``FER2013Train/name.png``) that at least ``min_votes`` annotators called neutral."""
    names = []
    with (Path(root) / "FER2013Train" / "label.csv").open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 3 and row[2].strip().isdigit() and int(row[2]) >= min_votes:
                names.append(f"FER2013Train/{row[0]}")
    return names
