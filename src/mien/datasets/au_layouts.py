"""Action-unit datasets in their official layouts, read into frame-level :class:`AUSample` records.

Each sample carries an AU occurrence vector over the AUs asked for (1 present, 0 absent, NaN "not coded"),
the subject (for subject-exclusive folds) and, for DISFA, the 0-5 intensities. :func:`au_matrix` stacks the
vectors for training; :func:`au_fold` gives the 3-fold subject split the AU literature reports on.

Layouts (``root`` is the dataset folder shown):

- DISFA: labels ``ActionUnit_Labels/SN001/SN001_au1.txt`` (one file per AU, lines ``frame,intensity``,
  frames numbered from 1, intensity 0-5; 12 AUs: 1 2 4 5 6 9 12 15 17 20 25 26) and videos
  ``Videos_LeftCamera/LeftVideoSN001_comp.avi`` (right camera: ``Video_RightCamera/RightVideoSN001_comp.avi``).
  Label frame ``k`` is video frame ``k - 1`` (0-based). Occurrence is ``intensity >= 2`` by the convention of
  JAA-Net and ME-GraphAU (``threshold=``). Instead of the videos, a folder of extracted frames can be named
  (``frames_dir``): ``<frames_dir>/SN001/<k - 1>.png`` (any image extension, any zero padding), the layout
  ME-GraphAU (``data/DISFA/img/SN001/0.png``) and PyTorch-JAANet (``DISFA/SN002/0.jpg``) use.
- BP4D(-Spontaneous): occurrence labels ``AUCoding/AU_OCC/F001_T1.csv``: a header row of AU numbers whose
  first cell heads the frame-number column, then one row per coded frame with values 0/1, 9 = not coded.
  Frames ``Sequences/F001/T1/0643.jpg`` named by that frame number (a ``frames_dir`` may be given instead;
  zero padding does not matter, file names are matched by the number they hold). The 12 AUs usually
  evaluated are 1 2 4 6 7 10 12 14 15 17 23 24.

What was verified, and where (public code, via code search):
- DISFA file names, ``frame,intensity`` lines and the ``>= 2`` occurrence rule: ME-GraphAU
  ``tool/DISFA_image_label_process.py`` (CVI-SZU/ME-GraphAU); ``Videos_LeftCamera/`` and
  ``Video_RightCamera/`` with ``*.avi``: OpenFace's ``extract_features_DISFA.m`` (copy in AiCure/open_dbm);
  ``LeftVideoSN0xx_comp.avi`` next to ``ActionUnit_Labels/SNxxx/SNxxx_au<k>.txt`` in a DISFA alignment script.
  That label frames start at 1 comes from a script indexing a 1-based list with them; ME-GraphAU pairs label
  line ``t`` (0-based) with image ``t.png``, which is the same mapping. Not seen: a label file itself.
- BP4D ``AUCoding/AU_OCC/<subject>_<task>.csv`` read with header row and the first column as the frame
  index, header cells ``"1"``, ``"2"``, ... being AU numbers: ME-GraphAU ``tool/BP4D_image_label_process.py``;
  9 = not coded: OpenFace's ``extract_BP4D_labels_intensity.m``; frame images named by the frame number with
  4 digits (``BP4D/F007/T1/0643.jpg``): PyTorch-JAANet's list files; ``Sequences(2D+3D)/F001/T1/<n>.jpg``
  with 3 or 4 digits: a BP4D preprocessing script. Assumed: that the 2D frame folder is called
  ``Sequences`` (``Sequences(2D+3D)`` and ``2D+3D`` are accepted too) and that the CSV's first header cell
  is the frame column whatever its text.
- The 3-fold subject splits (:data:`DISFA_PARTS`, :data:`BP4D_PARTS`) are JAA-Net's (Shao et al., ECCV
  2018), copied from ME-GraphAU's tools and cross-checked against PyTorch-JAANet's ``DISFA_part1_path.txt``
  (starts with SN002) and ``BP4D_part3_path.txt`` (starts with F007). Fold ``f`` tests on part ``4 - f`` and
  trains on the other two, as ME-GraphAU numbers them (fold 1 = JAA-Net's "train on parts 1+2, test on 3").

- CK+ (:func:`read_ckplus_aus`): ``au_emotion_labels.csv`` beside ``CK+48/``, one row per sequence
  (``video`` = ``S005_001``) with a 0/1 column per AU (``AU1``, ``AU2``, ...), coded at the peak frame.

Frames without an image file (preprocessing often drops frames where no face was found) are skipped with
a :class:`~mien.datasets.me_layouts.MissingFramesWarning`; a missing label file raises FileNotFoundError
naming it.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mien.datasets.me_layouts import MissingFramesWarning
from mien.schema import AUS

DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
BP4D_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)  # the 12 the BP4D literature evaluates
DISFA_EVAL_AUS = (1, 2, 4, 6, 9, 12, 25, 26)  # the 8 the DISFA literature evaluates (JAA-Net, ME-GraphAU)

DISFA_PARTS = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)
BP4D_PARTS = (
    ("F001", "M007", "F018", "F008", "F002", "M004", "F010", "F009", "M012", "M001", "F016", "M014", "F023",
     "M008"),
    ("M011", "F003", "M010", "M002", "F005", "F022", "M018", "M017", "F013", "M016", "F020", "F011", "M013",
     "M005"),
    ("F007", "F015", "F006", "F019", "M006", "M009", "F012", "M003", "F004", "F021", "F017", "M015", "F014"),
)
AU_PARTS = {"disfa": DISFA_PARTS, "bp4d": BP4D_PARTS}

DISFA_CAMERAS = {"left": ("Videos_LeftCamera", "LeftVideo{subject}_comp.avi"),
                 "right": ("Video_RightCamera", "RightVideo{subject}_comp.avi")}
BP4D_FRAME_FOLDERS = ("Sequences", "Sequences(2D+3D)", "2D+3D")
BP4D_NOT_CODED = 9
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_NUMBER_IN_NAME = re.compile(r"(\d+)$")


@dataclass
class AUSample:
    """One AU-coded frame: an image file, or frame ``frame_index`` (0-based) of the video ``source``."""

    source: str
    subject: str
    aus: tuple[int, ...]  # AU numbers, in the order of ``occurrence``
    occurrence: np.ndarray  # (K,) float32: 1 present, 0 absent, NaN not coded
    intensity: np.ndarray | None = None  # (K,) float32 0-5 (DISFA), NaN not coded; None where the dataset has none
    frame_index: int | None = None  # set when ``source`` is a video
    sequence: str = ""  # the coded recording: "SN001" (DISFA), "F001_T1" (BP4D)
    frame: int = 0  # the frame number the label file uses

def au_names(aus: Iterable[int]) -> list[str]:
    """OpenFace-style names of AU numbers: ``[1, 12] -> ["AU01", "AU12"]``."""
    names = []
    for au in aus:
        if not isinstance(au, (int, np.integer)) or not 0 < au < 100:
            raise ValueError(f"AU numbers are integers 1-99, got {au!r}")
        names.append(f"AU{int(au):02d}")
    return names


def au_matrix(samples: Sequence[AUSample]) -> np.ndarray:
    """(N, K) float32 occurrence matrix of samples coded for the same AUs (NaN = not coded)."""
    if not samples:
        return np.zeros((0, 0), np.float32)
    aus = samples[0].aus
    if any(sample.aus != aus for sample in samples):
        raise ValueError("samples are coded for different AU lists; read them with the same `aus`")
    return np.stack([sample.occurrence for sample in samples]).astype(np.float32)


def au_fold(dataset: str, fold: int) -> tuple[list[str], list[str]]:
    """``(train_subjects, test_subjects)`` of the standard subject-exclusive 3-fold protocol of ``dataset``
    (``disfa`` or ``bp4d``); ``fold`` is 1, 2 or 3 and tests on part ``4 - fold`` (see the module docstring)."""
    if dataset not in AU_PARTS:
        raise ValueError(f"unknown AU dataset {dataset!r}; known: {', '.join(AU_PARTS)}")
    if fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3, got {fold!r}")
    parts = AU_PARTS[dataset]
    test = 3 - fold
    train = [subject for index, part in enumerate(parts) if index != test for subject in part]
    return train, list(parts[test])


def select_subjects(samples: Iterable[AUSample], subjects: Iterable[str]) -> list[AUSample]:
    """The samples whose subject is in ``subjects`` (e.g. one side of :func:`au_fold`)."""
    wanted = set(subjects)
    return [sample for sample in samples if sample.subject in wanted]


def _check_aus(aus: Sequence[int], available: Sequence[int], dataset: str) -> tuple[int, ...]:
    aus = tuple(int(au) for au in aus)
    unknown = [au for au in aus if au not in available]
    if unknown or not aus:
        raise ValueError(f"{dataset} codes the AUs {list(available)}; cannot read {unknown or 'an empty list'}")
    return aus


def _frame_files(folder: Path) -> dict[int, Path]:
    """Image files of ``folder`` keyed by the number their name ends with (``0643.jpg`` -> 643)."""
    if not folder.is_dir():
        return {}
    files = {}
    for path in folder.iterdir():
        match = _NUMBER_IN_NAME.search(path.stem)
        if match and path.suffix.lower() in IMAGE_EXTENSIONS:
            files[int(match.group(1))] = path
    return files


def _warn_missing(where: Path, missing: int, total: int) -> None:
    if missing:
        warnings.warn(f"{where}: {missing} of {total} coded frames have no image file; skipped",
                      MissingFramesWarning, stacklevel=3)


# ------------------------------------------------------------------------------------------- CK+
def read_ckplus_aus(root: Path) -> dict[str, np.ndarray]:
    """CK+'s FACS codes: sequence id (``Sxxx_yyy``) -> (len(AUS),) 0/1 occurrence at the peak (over
    :data:`mien.schema.AUS`), from ``<root>/au_emotion_labels.csv``. FileNotFoundError naming it if absent."""
    path = Path(root) / "au_emotion_labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CK+ AU table not found")
    table = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            table[row["video"]] = np.array([int(row[f"AU{au}"]) for au in AUS], np.float32)
    return table


# ----------------------------------------------------------------------------------------- DISFA
def read_disfa_labels(path: Path) -> dict[int, int]:
    """Frame number -> intensity (0-5) from one DISFA label file (lines ``frame,intensity``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: DISFA AU label file not found")
    labels = {}
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            frame, intensity = int(cells[0]), int(cells[1])
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{line_number}: expected 'frame,intensity', got {line!r}") from None
        if len(cells) != 2 or frame < 1 or not 0 <= intensity <= 5:
            raise ValueError(f"{path}:{line_number}: expected a frame number >= 1 and an intensity 0-5, "
                             f"got {line!r}")
        labels[frame] = intensity
    return labels


def disfa_subjects(root: Path) -> list[str]:
    """The subjects (``SN001`` ...) with a folder in ``ActionUnit_Labels``."""
    labels = Path(root) / "ActionUnit_Labels"
    if not labels.is_dir():
        raise FileNotFoundError(f"{labels}: DISFA ActionUnit_Labels folder not found")
    return sorted(p.name for p in labels.iterdir() if p.is_dir() and re.fullmatch(r"SN\d{3}", p.name))


def read_disfa(root: str | Path, aus: Sequence[int] = DISFA_AUS, threshold: int = 2,
               subjects: Iterable[str] | None = None, frames_dir: str | Path | None = None,
               camera: str = "left") -> list[AUSample]:
    """Frame-level samples of DISFA under ``root``: occurrence = intensity >= ``threshold`` (1-5), with the
    intensities kept. Frames come from the ``camera`` video, or from ``frames_dir`` (module docstring).
    A frame missing from some AU's label file is "not coded" (NaN) for that AU."""
    root = Path(root)
    aus = _check_aus(aus, DISFA_AUS, "DISFA")
    if not 1 <= threshold <= 5:
        raise ValueError(f"threshold is an intensity 1-5, got {threshold!r}")
    if camera not in DISFA_CAMERAS:
        raise ValueError(f"camera must be one of {', '.join(DISFA_CAMERAS)}, got {camera!r}")
    samples = []
    for subject in subjects if subjects is not None else disfa_subjects(root):
        samples += _disfa_subject(root, subject, aus, threshold, frames_dir, camera)
    return samples


def _disfa_subject(root: Path, subject: str, aus: tuple[int, ...], threshold: int,
                   frames_dir: str | Path | None, camera: str) -> list[AUSample]:
    folder = root / "ActionUnit_Labels" / subject
    per_au = [read_disfa_labels(folder / f"{subject}_au{au}.txt") for au in aus]
    frames = sorted(set().union(*per_au))
    intensity = np.array([[labels.get(frame, np.nan) for labels in per_au] for frame in frames], np.float32)
    occurrence = np.where(np.isnan(intensity), np.nan, (intensity >= threshold).astype(np.float32))
    if frames_dir is None:
        video_folder, pattern = DISFA_CAMERAS[camera]
        video = root / video_folder / pattern.format(subject=subject)
        if not video.is_file():
            raise FileNotFoundError(f"{video}: DISFA video of {subject} not found (or pass frames_dir)")
        return [AUSample(str(video), subject, aus, occurrence[i], intensity[i], frame_index=frame - 1,
                         sequence=subject, frame=frame) for i, frame in enumerate(frames)]
    folder = _existing_frames_dir(frames_dir) / subject
    images = _frame_files(folder)
    samples = [AUSample(str(images[frame - 1]), subject, aus, occurrence[i], intensity[i], sequence=subject,
                        frame=frame) for i, frame in enumerate(frames) if frame - 1 in images]
    _warn_missing(folder, len(frames) - len(samples), len(frames))
    return samples


# ----------------------------------------------------------------------------------------- BP4D
def read_bp4d_labels(path: Path) -> tuple[tuple[int, ...], dict[int, np.ndarray]]:
    """``(aus, {frame: codes})`` of one ``AU_OCC`` CSV: the AU numbers of its header and each frame's
    0/1/9 codes in that order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BP4D AU occurrence file not found")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path}: empty AU occurrence file")
    try:
        aus = tuple(int(cell) for cell in rows[0][1:])
    except ValueError:
        raise ValueError(f"{path}:1: the header must hold AU numbers after the frame column, got {rows[0]}") from None
    codes = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            values = [int(float(cell)) for cell in row]
        except ValueError:
            raise ValueError(f"{path}:{line_number}: expected numbers, got {row}") from None
        if len(values) != len(aus) + 1 or any(v not in (0, 1, BP4D_NOT_CODED) for v in values[1:]):
            raise ValueError(f"{path}:{line_number}: expected a frame number and {len(aus)} codes 0, 1 or 9")
        codes[values[0]] = np.array(values[1:])
    return aus, codes


def bp4d_sequences(root: Path) -> list[str]:
    """The coded sequences (``F001_T1`` ...) with a CSV in ``AUCoding/AU_OCC``."""
    folder = Path(root) / "AUCoding" / "AU_OCC"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: BP4D AUCoding/AU_OCC folder not found")
    return sorted(p.stem for p in folder.glob("*.csv") if re.fullmatch(r"[FM]\d{3}_T\d+", p.stem))


def _existing_frames_dir(frames_dir: str | Path) -> Path:
    if not Path(frames_dir).is_dir():
        raise FileNotFoundError(f"{frames_dir}: frames_dir is not a folder")
    return Path(frames_dir)


def _bp4d_frames_root(root: Path, frames_dir: str | Path | None) -> Path:
    if frames_dir is not None:
        return _existing_frames_dir(frames_dir)
    for name in BP4D_FRAME_FOLDERS:
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"{root}: no BP4D frame folder ({', '.join(BP4D_FRAME_FOLDERS)}); pass frames_dir")


def read_bp4d(root: str | Path, aus: Sequence[int] = BP4D_AUS, subjects: Iterable[str] | None = None,
              frames_dir: str | Path | None = None) -> list[AUSample]:
    """Frame-level samples of BP4D under ``root`` (code 9 -> NaN), optionally only of ``subjects``."""
    root = Path(root)
    aus = tuple(int(au) for au in aus)
    if not aus:
        raise ValueError("aus is empty; BP4D's usual AUs are BP4D_AUS")
    frames_root = _bp4d_frames_root(root, frames_dir)
    wanted = set(subjects) if subjects is not None else None
    samples = []
    for sequence in bp4d_sequences(root):
        subject, task = sequence.split("_")
        if wanted is None or subject in wanted:
            samples += _bp4d_sequence(root, frames_root, subject, task, aus)
    return samples


def _bp4d_sequence(root: Path, frames_root: Path, subject: str, task: str, aus: tuple[int, ...]) -> list[AUSample]:
    path = root / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv"
    coded_aus, codes = read_bp4d_labels(path)
    columns = [coded_aus.index(au) if au in coded_aus else -1 for au in aus]
    if -1 in columns:
        raise ValueError(f"{path}: AUs {[au for au, c in zip(aus, columns) if c < 0]} are not in its header")
    images = _frame_files(frames_root / subject / task)
    samples = []
    for frame, values in sorted(codes.items()):
        if frame not in images:
            continue
        picked = values[columns].astype(np.float32)
        picked[picked == BP4D_NOT_CODED] = np.nan
        samples.append(AUSample(str(images[frame]), subject, aus, picked, sequence=f"{subject}_{task}", frame=frame))
    _warn_missing(frames_root / subject / task, len(codes) - len(samples), len(codes))
    return samples


AU_READERS = {"disfa": read_disfa, "bp4d": read_bp4d}


def read_au_dataset(name: str, root: str | Path, **options) -> list[AUSample]:
    """Samples of AU dataset ``name`` (``disfa`` or ``bp4d``) under ``root``; ``options`` go to its reader
    (``aus``, ``subjects``, ``frames_dir``; DISFA also ``threshold`` and ``camera``)."""
    if name not in AU_READERS:
        raise ValueError(f"unknown AU dataset {name!r}; known: {', '.join(AU_READERS)}")
    return AU_READERS[name](root, **options)
