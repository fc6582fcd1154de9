"""Valence/arousal datasets in their official layouts, read into :class:`VASample` records on mien's scale:
valence and arousal in [-1, 1].

Layouts (``root`` is the dataset folder shown):

- AffectNet, manually annotated: ``training.csv`` / ``validation.csv`` with the columns
  ``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression, valence,
  arousal``; images under ``Manually_Annotated_Images/``. Valence and arousal are already in [-1, 1]; rows
  whose valence or arousal is -2 (not annotated: the "uncertain" and "non-face" rows) are left out. The
  face box is in image pixels (None where its size is not positive); the 68 landmarks are ``x;y;x;y;...``.
  The download's nesting (``Manually_Annotated_file_lists/training.csv``,
  ``Manually_Annotated/Manually_Annotated_Images/``) is accepted too. The CSV is parsed by
  :func:`mien.datasets.layouts.affectnet_rows`, which the expression reader shares.
- AFEW-VA: one folder per clip, ``001/`` ... ``600/``, each holding ``001.json`` and the frames
  ``00000.png``, ``00001.png``, ...; the JSON is ``{"actor": ..., "video_id": "001", "frames": {"00000":
  {"valence": v, "arousal": a, "landmarks": [[x, y], ...]}, ...}}`` with integer v, a in [-10, 10], divided
  by 10 here. The official download unpacks into part folders (``01/001/``): clip folders are found one or
  two levels below ``root``. ``subject`` is the actor (for actor-exclusive folds; AFEW-VA has no official
  split), ``video`` the clip id.

What was verified, and where (public code, via code search): the AffectNet columns, ``x;y`` landmarks, the
nested download folders and rows with zero face sizes in several AffectNet loaders, and the -2 exclusion in
four loaders that filter ``valence != -2``; the AFEW-VA clip folders, ``<id>.json`` with ``frames`` keyed ``"00000"``, ``valence``/``arousal``
in [-10, 10], ``landmarks``, ``actor`` and ``video_id``, and frames ``<id>/<frame key>.png``: an AFEW-VA
preprocessing README and two loaders (one scales by 1/10, one reads ``<clip>/<frame key>.png``). Assumed:
the part-folder nesting (seen only as ``AFEW/01/001/`` paths in one project) and that AffectNet's
landmark cell holds 68 ``x;y`` pairs (rows with another count keep ``landmarks=None``).

Clip frames without an image file are skipped with a :class:`~mien.datasets.me_layouts.MissingFramesWarning`;
a missing label file raises FileNotFoundError naming it; out-of-range values raise ValueError naming the file
and row or frame.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from mien.datasets.layouts import affectnet_label, affectnet_rows, affectnet_table
from mien.datasets.me_layouts import MissingFramesWarning

AFFECTNET_NOT_ANNOTATED = -2.0
AFEW_VA_SCALE = 10.0  # AFEW-VA's integer scale [-10, 10]


@dataclass
class VASample:
    """One face image labelled with valence and arousal in [-1, 1]."""

    source: str  # image path
    valence: float
    arousal: float
    subject: str = ""  # AFEW-VA actor; empty for AffectNet
    video: str = ""  # AFEW-VA clip id
    frame: int | None = None  # frame number within the clip
    box: tuple[float, float, float, float] | None = None  # face (x, y, width, height) in pixels
    landmarks: np.ndarray | None = None  # (68, 2) pixels
    label: int = -1  # canonical expression index where the dataset has one (AffectNet), else -1


def va_arrays(samples: Iterable[VASample]) -> tuple[np.ndarray, np.ndarray]:
    """``(valence, arousal)`` float32 arrays of the samples, ready for :func:`mien.eval.va.va_report`."""
    samples = list(samples)
    return (np.array([s.valence for s in samples], np.float32), np.array([s.arousal for s in samples], np.float32))


def _check_unit_range(value: float, what: str, where: str) -> float:
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"{where}: {what} {value} is outside [-1, 1]")
    return value


# ----------------------------------------------------------------------------------------- AffectNet
def read_affectnet_va(root: str | Path, split: str) -> list[VASample]:
    """AffectNet's manually annotated ``train`` or ``valid`` split, rows without valence/arousal left out."""
    table = affectnet_table(Path(root), split)
    samples = []
    for row_number, (image, row) in enumerate(affectnet_rows(Path(root), split), start=2):
        where = f"{table}:{row_number}"
        try:
            valence, arousal = float(row["valence"]), float(row["arousal"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: valence/arousal must be numbers, got {row['valence']!r}, {row['arousal']!r}") from None
        if AFFECTNET_NOT_ANNOTATED in (valence, arousal):
            continue
        samples.append(VASample(
            image, _check_unit_range(valence, "valence", where), _check_unit_range(arousal, "arousal", where),
            box=_affectnet_box(row, where), landmarks=_affectnet_landmarks(row["facial_landmarks"]),
            label=affectnet_label(int(row["expression"])),
        ))
    return samples


def _affectnet_box(row: dict, where: str) -> tuple[float, float, float, float] | None:
    cells = [row.get(key, "") for key in ("face_x", "face_y", "face_width", "face_height")]
    if not all(cell and cell.strip() for cell in cells):
        return None
    try:
        x, y, width, height = (float(cell) for cell in cells)
    except ValueError:
        raise ValueError(f"{where}: face box must be numbers, got {cells}") from None
    return (x, y, width, height) if width > 0 and height > 0 else None  # some rows carry a 0 or -1 size


def _affectnet_landmarks(text: str | None) -> np.ndarray | None:
    try:
        values = [float(v) for v in (text or "").split(";") if v.strip()]
    except ValueError:
        return None
    if len(values) != 136:
        return None
    return np.array(values, np.float32).reshape(68, 2)


# ----------------------------------------------------------------------------------------- AFEW-VA
def afew_va_clips(root: str | Path) -> list[Path]:
    """The annotation files ``<clip>/<clip>.json`` one or two folders below ``root``, sorted by clip id."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: AFEW-VA folder not found")
    found = [p for pattern in ("*/*.json", "*/*/*.json") for p in root.glob(pattern) if p.stem == p.parent.name]
    if not found:
        raise FileNotFoundError(f"{root}: no AFEW-VA clip annotation (<clip>/<clip>.json) found")
    return sorted(found, key=lambda p: p.stem)


def read_afew_va(root: str | Path, clips: Iterable[str] | None = None) -> list[VASample]:
    """Every annotated frame of AFEW-VA under ``root`` (or of the clip ids in ``clips``), values / 10."""
    wanted = set(clips) if clips is not None else None
    samples = []
    for annotation in afew_va_clips(root):
        if wanted is None or annotation.stem in wanted:
            samples += read_afew_va_clip(annotation)
    return samples


def read_afew_va_clip(annotation: str | Path) -> list[VASample]:
    """The frames of one clip from its ``<clip>.json``; frames without a ``<frame>.png`` are skipped."""
    annotation = Path(annotation)
    if not annotation.is_file():
        raise FileNotFoundError(f"{annotation}: AFEW-VA clip annotation not found")
    try:
        content = json.loads(annotation.read_text())
        frames = content["frames"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{annotation}: not an AFEW-VA annotation (JSON with a 'frames' object)") from None
    clip = str(content.get("video_id") or annotation.stem)
    samples = []
    for key in sorted(frames):
        image = annotation.parent / f"{key}.png"
        if image.is_file():
            samples.append(_afew_va_sample(image, frames[key], str(content.get("actor", "")), clip, key, annotation))
    missing = len(frames) - len(samples)
    if missing:
        warnings.warn(f"{annotation.parent}: {missing} of {len(frames)} annotated frames have no image file; skipped",
                      MissingFramesWarning, stacklevel=2)
    return samples


def _afew_va_sample(image: Path, entry: dict, actor: str, clip: str, key: str, annotation: Path) -> VASample:
    where = f"{annotation} frame {key}"
    try:
        valence, arousal = float(entry["valence"]), float(entry["arousal"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: needs numeric 'valence' and 'arousal'") from None
    for what, value in (("valence", valence), ("arousal", arousal)):
        if not -AFEW_VA_SCALE <= value <= AFEW_VA_SCALE:
            raise ValueError(f"{where}: {what} {value} is outside AFEW-VA's [-10, 10]")
    landmarks = entry.get("landmarks")
    points = np.asarray(landmarks, np.float32) if landmarks else None
    if points is not None and (points.ndim != 2 or points.shape[1] != 2):
        raise ValueError(f"{where}: landmarks must be a list of [x, y] pairs, got shape {points.shape}")
    return VASample(str(image), valence / AFEW_VA_SCALE, arousal / AFEW_VA_SCALE, subject=actor, video=clip,
                    frame=int(key) if key.isdigit() else None, landmarks=points)


VA_DATASETS = ("affectnet", "afew-va")


def read_va_dataset(name: str, root: str | Path, split: str | None = None) -> list[VASample]:
    """Samples of valence/arousal dataset ``name`` under ``root``: ``affectnet`` with ``split`` ``train`` or
    ``valid``, ``afew-va`` whole (it has no official split; group folds by ``subject``)."""
    if name == "affectnet":
        return read_affectnet_va(root, split or "valid")
    if name == "afew-va":
        if split not in (None, "all"):
            raise ValueError(f"AFEW-VA has no official {split!r} split; read it whole and fold by subject (actor)")
        return read_afew_va(root)
    raise ValueError(f"unknown valence/arousal dataset {name!r}; known: {', '.join(VA_DATASETS)}")
