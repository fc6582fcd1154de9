"""Frame folders of the micro-expression datasets, paired with their coding sheets (:mod:`.me_sheets`).

For each coded sample a loader returns a :class:`FrameSequence`: the frame files from onset to offset in
frame order and where onset, apex and offset fall in it. Frame numbers are read from the file names
(the digits before the extension), so zero padding does not matter.

Official layouts (``root`` may be the folder shown, or a parent holding it):

- CASME II: ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``, and the cropped release
  ``Cropped/sub01/EP02_01f/reg_img46.jpg`` (the clip folder keeps the sheet's full ``Filename``).
- SAMM: ``SAMM/006/006_1_2/006_05562.jpg`` (``<subject>_<frame, 5 digits>``).
- SMIC-HS: ``SMIC/HS/s1/micro/negative/s1_ne_01/image*.bmp`` (emotion folders negative/positive/surprise).
- CAS(ME)^2 (``layout=``): ``rawpic/s15/15_0101disgustingteeth/img557.jpg`` (whole videos; the default),
  ``selectedpic/s15/anger1_1/img557.jpg`` and ``cropped/15/anger1_1/img557.jpg`` (one folder per coded
  interval; a ``selectedpic/s15/15_0401*/`` video folder is accepted too); the videos themselves are
  ``rawvideo/s15/15_0101disgustingteeth.avi`` (:func:`casme_sq_video`).
- SAMM Long Videos: ``SAMM_longvideos/006_1/006_1_0001.jpg``.
- CAS(ME)^3 part A micro-expression clips: ``Part_A_ME_clip/frame/spNO.1_a_355/355.jpg``
  (``<subject>_<filename>_<onset>``, folder names matched ignoring case).

What was verified, and where: public code that reads the real datasets (GitHub, via code search) shows
``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``, ``Cropped/sub01/EP02_01f/reg_img46.jpg``,
``SAMM/006/006_1_2/006_05562.jpg``, ``SMIC/HS/`` with ``s<k>/micro/<emotion>/<clip>/`` folders of .bmp
frames, ``rawpic/s15/15_0101disgustingteeth/img*.jpg``, ``rawvideo/s16/16_0101disgustingteeth.avi``,
``selectedpic/s15/anger1_1/img557.jpg``, ``cropped/15/anger1_1/img557.jpg`` and
``SAMM_longvideos/009_4/009_4_0007.jpg``, and a CAS(ME)^3 audit script that looks up
``Part_A_ME_clip/frame/<Subject>_<Filename>_<Onset>/`` case-insensitively. Unsure: the exact SMIC-HS
frame file names (``image<frame>.bmp`` with the global frame number that ``smic_apex.xlsx`` uses is
assumed; the cropped release's ``reg_<n>.bmp`` renumbering is NOT supported), that CAS(ME)^3 clip frames
are named by their frame number (``355.jpg``), and that ``img<N>`` in ``rawpic`` is the N-th frame of the
video (frame numbers are taken from the names, so the frames alone are consistent either way). One
CAS(ME)^2 copy files subject 23's ``23_0502funnyerrors`` under ``s19/``; a video missing from its
subject folder is therefore looked up in the other subject folders by its full name prefix.

Samples whose folder is absent are skipped with a :class:`MissingFramesWarning`. Missing frames raise
:class:`MissingFramesError` naming the folder (``strict=True``) or are warned about and skipped.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from mien.datasets.me_sheets import FRAME_COLUMNS, CodedSample, read_coding_sheet, to_records

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_FRAME_NUMBER = re.compile(r"(\d+)\.(?:jpe?g|png|bmp)$", re.IGNORECASE)
SMIC_EMOTION_FOLDERS = ("negative", "positive", "surprise")
CASME_SQ_LAYOUTS = ("rawpic", "selectedpic", "cropped")


class MissingFramesError(FileNotFoundError):
    """A coded frame (or one between onset and offset) has no file in the sample's folder."""


class MissingFramesWarning(UserWarning):
    """A sample was skipped because its folder or some of its frames are missing."""


@dataclass(frozen=True)
class FrameSequence:
    """The frames of one coded sample, onset to offset, in frame order.

    ``apex_index`` is None when the sheet has no apex; ``offset_index`` is None when the offset is unknown
    (the sequence then ends at the folder's last frame, or at the apex in whole-video folders).
    """

    sample: CodedSample
    frames: tuple[Path, ...]
    frame_numbers: tuple[int, ...]
    onset_index: int
    apex_index: int | None
    offset_index: int | None

    @property
    def onset_frame(self) -> Path:
        return self.frames[self.onset_index]

    @property
    def apex_frame(self) -> Path | None:
        return None if self.apex_index is None else self.frames[self.apex_index]

    @property
    def offset_frame(self) -> Path | None:
        return None if self.offset_index is None else self.frames[self.offset_index]


# ----------------------------------------------------------------------------------------- one folder
def numbered_frames(folder: Path) -> dict[int, Path]:
    """Frame number -> file for the image files of ``folder``; ValueError when two files share a number."""
    frames: dict[int, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        match = _FRAME_NUMBER.search(path.name)
        if match is None or not path.is_file():
            continue
        number = int(match.group(1))
        if number in frames:
            raise ValueError(f"{folder}: {frames[number].name} and {path.name} are both frame {number}")
        frames[number] = path
    return frames


def frame_sequence(sample: CodedSample, folder: Path, *, whole_video: bool = False,
                   frames: dict[int, Path] | None = None) -> FrameSequence:
    """The :class:`FrameSequence` of ``sample`` in ``folder`` (``frames``: its :func:`numbered_frames`, if
    already listed). ``whole_video``: the folder holds a whole long video, so an unknown offset ends the
    sequence at the apex rather than at the folder's last frame."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: frame folder of {sample.key} not found")
    frames = numbered_frames(folder) if frames is None else frames
    if not frames:
        raise MissingFramesError(f"{folder}: no frame images ({', '.join(FRAME_EXTENSIONS)}) for {sample.key}")
    for role, number in (("onset", sample.onset), ("apex", sample.apex), ("offset", sample.offset)):
        if number is not None and number not in frames:
            raise MissingFramesError(f"{folder}: {role} frame {number} of {sample.key} not found "
                                     f"(frames present: {_describe_ranges(sorted(frames))})")
    last = _last_frame(sample, frames, whole_video)
    if last < sample.onset:
        raise ValueError(f"{sample.key}: offset {last} comes before onset {sample.onset}")
    if sample.apex is not None and not sample.onset <= sample.apex <= last:
        raise ValueError(f"{sample.key}: apex {sample.apex} lies outside onset {sample.onset} to {last}")
    wanted = range(sample.onset, last + 1)
    gaps = [n for n in wanted if n not in frames]
    if gaps:
        raise MissingFramesError(f"{folder}: frames {_describe_ranges(gaps)} of {sample.key} "
                                 f"(onset {sample.onset} to {last}) not found")
    return FrameSequence(
        sample=sample, frames=tuple(frames[n] for n in wanted), frame_numbers=tuple(wanted), onset_index=0,
        apex_index=None if sample.apex is None else sample.apex - sample.onset,
        offset_index=None if sample.offset is None else sample.offset - sample.onset,
    )


def _last_frame(sample: CodedSample, frames: dict[int, Path], whole_video: bool) -> int:
    if sample.offset is not None:
        return sample.offset
    if whole_video:
        return sample.apex if sample.apex is not None else sample.onset
    return max(frames)


def _describe_ranges(numbers: Sequence[int], limit: int = 6) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"`` (at most ``limit`` runs)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    return ", ".join(text) + (f", ... ({len(runs) - limit} more runs)" if len(runs) > limit else "")


# ----------------------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class _Layout:
    dataset: str
    subject_folder: str  # regex of the folders directly under the base
    wrappers: tuple[str, ...]  # relative paths from a user's root down to the base
    folder: Callable[[Path, CodedSample], Path | None]
    whole_video: bool = False


def _casme2_folder(base: Path, sample: CodedSample) -> Path:
    return base / sample.subject / sample.clip


def _smic_folder(base: Path, sample: CodedSample) -> Path | None:
    micro = base / sample.subject / "micro"
    expected = micro / sample.emotion / sample.clip
    if expected.is_dir():
        return expected
    # A clip filed under another emotion folder is still found (its label comes from the sheet).
    return next((micro / name / sample.clip for name in SMIC_EMOTION_FOLDERS
                 if (micro / name / sample.clip).is_dir()), expected)


def _video_folder(subject_dir: Path, video: str, suffix: str = "") -> Path | None:
    """The entry of ``subject_dir`` named ``<video><anything><suffix>`` (``15_0101`` ->
    ``15_0101disgustingteeth``); failing that, the same in a sibling subject folder (a misfiled video)."""
    for folder in (subject_dir, *sorted(p for p in subject_dir.parent.glob("*") if p != subject_dir)):
        if not folder.is_dir():
            continue
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix))
        match = next((n for n in names if re.match(rf"{re.escape(video)}(?!\d)", n)), None)
        if match is not None:
            return folder / match
    return None


def _casme_sq_rawpic(base: Path, sample: CodedSample) -> Path | None:
    return _video_folder(base / sample.subject, sample.video or "")


def _casme_sq_selected(base: Path, sample: CodedSample) -> Path | None:
    interval = base / sample.subject / sample.clip
    if interval.is_dir():
        return interval
    return _video_folder(base / sample.subject, sample.video or "") or interval  # a whole-video folder


def _casme_sq_cropped(base: Path, sample: CodedSample) -> Path:
    return base / sample.subject.lstrip("s") / sample.clip


def _sammlv_folder(base: Path, sample: CodedSample) -> Path:
    return base / (sample.video or "")


def _casme3_folder(base: Path, sample: CodedSample) -> Path:
    name = f"{sample.subject}_{sample.clip}_{sample.onset}"
    exact = base / name
    if exact.is_dir():
        return exact
    return next((p for p in base.iterdir() if p.name.lower() == name.lower() and p.is_dir()), exact)


LAYOUTS: dict[str, _Layout] = {
    "casme2": _Layout("casme2", r"sub\d+$", ("CASME2_RAW_selected", "CASME2_RAW_selected/CASME2_RAW_selected",
                                            "Cropped", "Cropped/Cropped", "CASME2_Cropped"), _casme2_folder),
    "samm": _Layout("samm", r"\d{3}$", ("SAMM", "SAMM/SAMM"), _casme2_folder),
    "smic": _Layout("smic", r"s\d+$", ("HS", "SMIC/HS", "SMIC/SMIC/HS"), _smic_folder),
    "casme_sq/rawpic": _Layout("casme_sq", r"s\d+$", ("rawpic", "rawpic/rawpic"), _casme_sq_rawpic,
                               whole_video=True),
    "casme_sq/selectedpic": _Layout("casme_sq", r"s\d+$", ("selectedpic", "selectedpic/selectedpic"),
                                    _casme_sq_selected),
    "casme_sq/cropped": _Layout("casme_sq", r"\d+$", ("cropped", "cropped/cropped"), _casme_sq_cropped),
    "sammlv": _Layout("sammlv", r"\d{3}_\d+$", ("SAMM_longvideos", "SAMM_longvideos/SAMM_longvideos"),
                      _sammlv_folder, whole_video=True),
    "casme3": _Layout("casme3", r"(?i)spno\.\d+_", ("Part_A_ME_clip/frame", "Part_A_ME_clip/Part_A_ME_clip/frame",
                                                     "frame", "part_A/Part_A_ME_clip/frame"), _casme3_folder),
}


def _base_folder(root: Path, layout: _Layout, name: str) -> Path:
    """The folder directly holding the subject (or video) folders: ``root`` or one of its wrappers."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: {name} folder not found")
    for candidate in (root, *(root / w for w in layout.wrappers)):
        if candidate.is_dir() and any(re.match(layout.subject_folder, p.name) and p.is_dir()
                                      for p in candidate.iterdir()):
            return candidate
    raise FileNotFoundError(f"{root}: no {name} folders matching '{layout.subject_folder}' here or under "
                            f"{', '.join(layout.wrappers)}")


# ----------------------------------------------------------------------------------------- loaders
Samples = Iterable[CodedSample] | str | Path


def load_sequences(root: str | Path, samples: Samples, *, layout: str | None = None,
                   strict: bool = False) -> list[FrameSequence]:
    """Frame sequences of the coded ``samples`` (or of the coding sheet at that path) under ``root``.

    ``layout`` picks the CAS(ME)^2 frame layout (rawpic, selectedpic or cropped; default rawpic). Samples
    whose folder is absent are skipped with a :class:`MissingFramesWarning`; samples with missing frames
    raise :class:`MissingFramesError` when ``strict``, else are skipped with a warning.
    """
    samples = read_coding_sheet(samples) if isinstance(samples, (str, Path)) else list(samples)
    sequences: list[FrameSequence] = []
    listings: dict[Path, dict[int, Path]] = {}  # long-video folders serve many samples: list them once
    bases: dict[str, Path] = {}
    for sample in samples:
        key = _layout_key(sample.dataset, layout)
        if key not in bases:
            bases[key] = _base_folder(Path(root), LAYOUTS[key], key)
        spec = LAYOUTS[key]
        folder = spec.folder(bases[key], sample)
        if folder is None or not folder.is_dir():
            where = folder or bases[key] / sample.subject
            _warn(f"{where}: frame folder of {sample.key} not found; sample skipped")
            continue
        try:
            if folder not in listings:
                listings[folder] = numbered_frames(folder)
            sequences.append(frame_sequence(sample, folder, whole_video=spec.whole_video,
                                            frames=listings[folder]))
        except (MissingFramesError, ValueError) as error:
            if strict:
                raise
            _warn(f"{error}; sample skipped")
    return sequences


def _layout_key(dataset: str, layout: str | None) -> str:
    if dataset == "casme_sq":
        layout = layout or "rawpic"
        if layout not in CASME_SQ_LAYOUTS:
            raise ValueError(f"unknown CAS(ME)^2 layout {layout!r}; known: {', '.join(CASME_SQ_LAYOUTS)}")
        return f"casme_sq/{layout}"
    if dataset not in LAYOUTS:
        known = sorted({spec.dataset for spec in LAYOUTS.values()})
        raise ValueError(f"no frame-folder layout for dataset {dataset!r}; known: {', '.join(known)}")
    return dataset


def _warn(message: str) -> None:
    warnings.warn(message, MissingFramesWarning, stacklevel=3)


def load_casme2(root: str | Path, samples: Samples, *, strict: bool = False) -> list[FrameSequence]:
    """CASME II, raw (``CASME2_RAW_selected``) or cropped (``Cropped``) frames; see :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "casme2"), strict=strict)


def load_samm(root: str | Path, samples: Samples, *, strict: bool = False) -> list[FrameSequence]:
    """SAMM ``SAMM/<subject>/<clip>/<subject>_<frame>.jpg``; see :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "samm"), strict=strict)


def load_smic(root: str | Path, samples: Samples, *, strict: bool = False) -> list[FrameSequence]:
    """SMIC-HS ``HS/s<k>/micro/<emotion>/<clip>/``; see :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "smic"), strict=strict)


def load_casme_sq(root: str | Path, samples: Samples, *, layout: str = "rawpic",
                  strict: bool = False) -> list[FrameSequence]:
    """CAS(ME)^2 ``rawpic``, ``selectedpic`` or ``cropped`` frames; see :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "casme_sq"), layout=layout, strict=strict)


def load_sammlv(root: str | Path, samples: Samples, *, strict: bool = False) -> list[FrameSequence]:
    """SAMM Long Videos ``SAMM_longvideos/<video>/<video>_<frame>.jpg``; see :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "sammlv"), strict=strict)


def load_casme3(root: str | Path, samples: Samples, *, strict: bool = False) -> list[FrameSequence]:
    """CAS(ME)^3 part A ``Part_A_ME_clip/frame/<subject>_<filename>_<onset>/<frame>.jpg``; see
    :func:`load_sequences`."""
    return load_sequences(root, _only(samples, "casme3"), strict=strict)


def _only(samples: Samples, dataset: str) -> list[CodedSample]:
    samples = read_coding_sheet(samples) if isinstance(samples, (str, Path)) else list(samples)
    others = sorted({s.dataset for s in samples} - {dataset})
    if others:
        raise ValueError(f"expected {dataset} samples, got {', '.join(others)}")
    return samples


def casme_sq_video(root: str | Path, sample: CodedSample) -> Path:
    """The raw video of a CAS(ME)^2 sample: ``rawvideo/s15/15_0101disgustingteeth.avi``."""
    base = _base_folder(Path(root), _Layout("casme_sq", r"s\d+$", ("rawvideo", "rawvideo/rawvideo"),
                                            _casme_sq_rawpic), "CAS(ME)^2 rawvideo")
    video = _video_folder(base / sample.subject, sample.video or "", suffix=".avi")
    if video is None:
        raise FileNotFoundError(f"{base / sample.subject}: video {sample.video}*.avi of {sample.key} not found")
    return video


# ----------------------------------------------------------------------------------------- tables
SEQUENCE_COLUMNS = (*FRAME_COLUMNS, "n_frames", "onset_path", "apex_path", "offset_path")


def sequence_records(samples: Iterable[CodedSample], sequences: Iterable[FrameSequence]) -> list[dict]:
    """:func:`~mien.datasets.me_sheets.to_records` of ``samples`` plus, where a sequence was found, its
    frame count and onset/apex/offset files (columns :data:`SEQUENCE_COLUMNS`; 0 / None where not found)."""
    samples = list(samples)
    found = {sequence.sample: sequence for sequence in sequences}
    records = []
    for sample, record in zip(samples, to_records(samples)):
        sequence = found.get(sample)
        record["n_frames"] = len(sequence.frames) if sequence else 0
        for role in ("onset", "apex", "offset"):
            path = getattr(sequence, f"{role}_frame") if sequence else None
            record[f"{role}_path"] = None if path is None else str(path)
        records.append(record)
    return records
