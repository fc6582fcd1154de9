"""Micro-expression coding sheets, read as the dataset owners ship them, into one record: :class:`CodedSample`.

One reader per sheet format; :func:`read_coding_sheet` recognises the format from its header row (or, for
CAS(ME)^2, its naming-rule sheets) and dispatches. Frame numbers are those of the frame files
(``img46.jpg`` is frame 46; SAMM ``006_05562.jpg`` is frame 5562).

====================  =========================================  =============================================
reader                sheet                                      notes
====================  =========================================  =============================================
read_casme2_sheet     ``CASME2-coding-20140508.xlsx`` (7 cols),  255 samples; the 2019 revision adds
                      ``CASME2-coding-20190701.xlsx``            "Objective Classes" and blank spacer columns;
                                                                 apex "/" = not coded; AU "?" = not coded.
read_samm_sheet       ``SAMM.xlsx``,                             159 micro-expressions; v2 has 13 title/notes
                      ``SAMM_Micro_FACS_Codes_v2.xlsx``          rows above the header.
read_smic_sheet       ``smic_apex.xlsx``                         164 SMIC-HS samples, label 0/1/2 = negative/
                                                                 positive/surprise; 7 have no offset.
read_casme3_sheet     ``casme3_table.xlsx``                      860 CAS(ME)^3 part A micro-expressions (text cells);
                                                                 offset 0 = unknown.
read_casme_sq_sheet   ``CASME_sq_gt.xlsx``                       357 CAS(ME)^2 long-video intervals; no header
                                                                 row; sheets "naming rule1/2" map the subject
                                                                 index to ``s15``.. and videos to ``0101``..;
                                                                 offset 0 = unknown.
read_sammlv_sheet     ``SAMMLV_gt.xlsx``                         502 SAMM Long Videos intervals (micro and
                                                                 macro); apex -1 = not annotated; some frames
                                                                 are fractional (rounded here).
====================  =========================================  =============================================

Action units keep the sheet's laterality / intensity letters (``R12``, ``15A``, ``L2 or R2``,
``ref(24)``); :attr:`CodedSample.au_numbers` gives the plain AU numbers. :attr:`CodedSample.three_class` is
the MEGC2019 composite grouping (0 negative, 1 positive, 2 surprise).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

# MEGC2019 composite classes: negative groups the negative emotions of all three datasets (CASME II's
# "repression" included); "others" / unknown emotions have no class.
THREE_CLASS_NAMES = ("negative", "positive", "surprise")
_THREE_CLASS = {
    **dict.fromkeys(("negative", "anger", "angry", "contempt", "disgust", "fear", "sadness", "sad",
                     "repression"), 0),
    **dict.fromkeys(("positive", "happiness", "happy"), 1),
    "surprise": 2,
}
SMIC_LABELS = {0: "negative", 1: "positive", 2: "surprise"}  # smic_apex.xlsx "label"


@dataclass(frozen=True)
class CodedSample:
    """One coded (micro-)expression interval of a dataset's coding sheet.

    ``onset``/``apex``/``offset`` are frame numbers as in the frame file names; ``apex`` is None where the
    sheet gives none ("/" or -1), ``offset`` None where it is unknown (0 or blank). ``video`` names the
    long video an interval belongs to (CAS(ME)^2 ``15_0101``, SAMM Long Videos ``006_1``), else None.
    """

    dataset: str  # casme2, samm, smic, casme3, casme_sq, sammlv
    subject: str  # canonical folder name: sub01, 006, s1, spNO.1, s15
    clip: str  # sample name: EP02_01f, 006_1_2, s1_ne_01, a, anger1_1
    onset: int
    apex: int | None
    offset: int | None
    action_units: tuple[str, ...] = ()
    emotion: str = ""  # as written in the sheet ("" where the sheet has none)
    objective_class: str | None = None  # CASME II / SAMM 1-7, CAS(ME)^3 I-VII
    expression_type: str | None = None  # "micro" / "macro" where the sheet says
    video: str | None = None
    self_report: str | None = None  # CAS(ME)^2: the participant's reported emotion

    @property
    def three_class(self) -> int | None:
        """MEGC2019 class: 0 negative, 1 positive, 2 surprise; None for "others" or no emotion.

        The MEGC2019 composite itself also leaves out CASME II's 9 fear/sadness samples (2014 sheet; the
        2019 sheet relabels 3 of them surprise) and 2 disgust ones (sub04/EP12_01f, sub05/EP09_05f).
        """
        return _THREE_CLASS.get(self.emotion.strip().lower())

    @property
    def au_numbers(self) -> tuple[int, ...]:
        """Plain AU numbers named by :attr:`action_units`, sorted and unique (alternatives included)."""
        return au_numbers(self.action_units)

    @property
    def key(self) -> str:
        return f"{self.dataset}:{self.subject}/{self.clip}"


# ----------------------------------------------------------------------------------------- AU strings
def parse_action_units(text: Any) -> tuple[str, ...]:
    """AU codes of a sheet cell, split on top-level "+": ``"(R6 or R12)+R15"`` -> ``("R6 or R12", "R15")``.

    Letters are kept (L/R unilateral, A asymmetric, T/B top/bottom, A-E intensity); a number cell becomes
    its text; blank and "?" (not coded) give ``()``.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ()
    if isinstance(text, (int, float)):
        return (str(int(text)),)
    tokens = []
    for token in _split_top_level(str(text), "+"):
        token = " ".join(token.split())
        while token.startswith("(") and token.endswith(")") and _balanced(token[1:-1]):
            token = token[1:-1].strip()
        if token and token != "?":
            tokens.append(token)
    return tuple(tokens)


def au_numbers(action_units: Iterable[str]) -> tuple[int, ...]:
    """Every AU number the codes name: ``("R12", "15A", "L2 or R2")`` -> ``(2, 12, 15)``."""
    return tuple(sorted({int(n) for code in action_units for n in re.findall(r"\d+", code)}))


def _split_top_level(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# ----------------------------------------------------------------------------------------- workbook access
Row = tuple[Any, ...]


def _read_workbook(path: str | Path) -> dict[str, list[Row]]:
    """Every sheet's rows as cell values (formulas as their cached values); row i is the sheet's row i + 1."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: coding sheet not found")
    try:
        import openpyxl
    except ImportError as error:  # pragma: no cover - openpyxl is in the micro/test extras
        raise ImportError("reading .xlsx coding sheets needs openpyxl: pip install 'mien[micro]'") from error
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for non-xlsx input
        raise ValueError(f"{path}: not a readable .xlsx workbook ({error})") from error
    try:
        return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}
    finally:
        workbook.close()


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _text(value: Any) -> str:
    """Cell as stripped text; whole floats lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header_names(row: Row) -> list[str]:
    return [" ".join(_text(v).lower().split()) for v in row]


def _find_header(rows: Sequence[Row], required: Sequence[str], scan: int = 30) -> int | None:
    """Index of the first row (among the first ``scan``) holding every ``required`` name (case-insensitive)."""
    for index, row in enumerate(rows[:scan]):
        names = set(_header_names(row))
        if all(name in names for name in required):
            return index
    return None


class _Table:
    """Data rows below a header row, with cells looked up by header name (so spacer columns don't matter)."""

    def __init__(self, path: Path, rows: Sequence[Row], header: int):
        self.path = path
        self.columns = {name: i for i, name in reversed(list(enumerate(_header_names(rows[header])))) if name}
        self.titles = {name: _text(rows[header][i]) for name, i in self.columns.items()}  # as written
        self.rows = [(header + 2 + offset, row) for offset, row in enumerate(rows[header + 1:])  # 1-based
                     if any(_present(v) for v in row)]

    def get(self, row: Row, name: str) -> Any:
        column = self.columns.get(name)
        return row[column] if column is not None and column < len(row) else None

    def frame(self, line: int, row: Row, name: str, *, unknown: Sequence[int] = ()) -> int | None:
        return _frame_number(self.path, line, self.titles.get(name, name), self.get(row, name), unknown)


def _frame_number(path: Path, line: int, column: str, value: Any, unknown: Sequence[int] = ()) -> int | None:
    """A frame cell as int; blank, "/" and the ``unknown`` sentinels give None; fractions are rounded."""
    text = _text(value)
    if text in ("", "/", "-", "?"):
        return None
    try:
        number = int(round(float(text)))
    except ValueError:
        raise ValueError(f"{path}: row {line}, column '{column}': {text!r} is not a frame number") from None
    return None if number in unknown else number


def _require_frame(path: Path, line: int, column: str, value: int | None) -> int:
    if value is None:
        raise ValueError(f"{path}: row {line}, column '{column}' is empty")
    return value


def _sheet_with_header(path: Path, required: Sequence[str], what: str) -> _Table:
    for rows in _read_workbook(path).values():
        header = _find_header(rows, required)
        if header is not None:
            return _Table(path, rows, header)
    raise ValueError(f"{path}: no {what} header row (columns {', '.join(required)}) found")


def _filled_rows(rows: Sequence[Row], width: int) -> list[Row]:
    """Non-empty rows padded to at least ``width`` cells."""
    return [tuple(row) + (None,) * (width - len(row)) for row in rows if any(_present(v) for v in row)]


def _optional_text(value: Any) -> str | None:
    return _text(value) or None


# ----------------------------------------------------------------------------------------- CASME II
CASME2_HEADER = ("subject", "filename", "onsetframe", "apexframe", "offsetframe", "action units",
                 "estimated emotion")


def read_casme2_sheet(path: str | Path) -> list[CodedSample]:
    """CASME II ``CASME2-coding-*.xlsx``: subject ``"01"`` becomes the folder name ``sub01``."""
    path = Path(path)
    table = _sheet_with_header(path, CASME2_HEADER, "CASME II")
    samples = []
    for line, row in table.rows:
        subject, clip = _text(table.get(row, "subject")), _text(table.get(row, "filename"))
        if not subject or not clip:
            continue
        samples.append(CodedSample(
            dataset="casme2", subject=f"sub{int(subject):02d}", clip=clip,
            onset=_require_frame(path, line, "OnsetFrame", table.frame(line, row, "onsetframe")),
            apex=table.frame(line, row, "apexframe"),
            offset=table.frame(line, row, "offsetframe", unknown=(0,)),
            action_units=parse_action_units(table.get(row, "action units")),
            emotion=_text(table.get(row, "estimated emotion")),
            objective_class=_optional_text(table.get(row, "objective classes")),
            expression_type="micro",
        ))
    return samples


# ----------------------------------------------------------------------------------------- SAMM
SAMM_HEADER = ("subject", "filename", "inducement code", "onset frame", "apex frame", "offset frame",
               "action units", "estimated emotion")


def read_samm_sheet(path: str | Path) -> list[CodedSample]:
    """SAMM ``SAMM.xlsx`` / ``SAMM_Micro_FACS_Codes_v2.xlsx`` (title and notes rows above the header)."""
    path = Path(path)
    table = _sheet_with_header(path, SAMM_HEADER, "SAMM")
    samples = []
    for line, row in table.rows:
        subject, clip = _text(table.get(row, "subject")), _text(table.get(row, "filename"))
        if not subject or not clip:
            continue
        samples.append(CodedSample(
            dataset="samm", subject=subject.zfill(3), clip=clip,
            onset=_require_frame(path, line, "Onset Frame", table.frame(line, row, "onset frame")),
            apex=table.frame(line, row, "apex frame", unknown=(-1,)),
            offset=table.frame(line, row, "offset frame", unknown=(0, -1)),
            action_units=parse_action_units(table.get(row, "action units")),
            emotion=_text(table.get(row, "estimated emotion")),
            objective_class=_optional_text(table.get(row, "objective classes")),
            expression_type=_expression_type(table.get(row, "micro")) or "micro",
        ))
    return samples


def _expression_type(value: Any) -> str | None:
    """"Micro - 1/2", "micro-expression" -> "micro"; "Macro", "macro-expression" -> "macro"."""
    text = _text(value).lower()
    for kind in ("micro", "macro"):
        if text.startswith(kind):
            return kind
    return None


# ----------------------------------------------------------------------------------------- SMIC
SMIC_HEADER = ("subject", "clip", "label", "onset_frame", "apex_frame", "offset_frame")


def read_smic_sheet(path: str | Path) -> list[CodedSample]:
    """SMIC-HS ``smic_apex.xlsx``: subject 1 becomes ``s1`` (the HS folder name); emotion from ``label``."""
    path = Path(path)
    table = _sheet_with_header(path, SMIC_HEADER, "SMIC")
    samples = []
    for line, row in table.rows:
        subject, clip = _text(table.get(row, "subject")), _text(table.get(row, "clip"))
        if not subject or not clip:
            continue
        label = _text(table.get(row, "label"))
        if not label.isdigit() or int(label) not in SMIC_LABELS:
            raise ValueError(f"{path}: row {line}, column 'label': {label!r} is not 0, 1 or 2")
        samples.append(CodedSample(
            dataset="smic", subject=f"s{int(subject)}", clip=clip,
            onset=_require_frame(path, line, "onset_frame", table.frame(line, row, "onset_frame")),
            apex=table.frame(line, row, "apex_frame"),
            offset=table.frame(line, row, "offset_frame", unknown=(0,)),
            emotion=SMIC_LABELS[int(label)],
            expression_type="micro",
        ))
    return samples


# ----------------------------------------------------------------------------------------- CAS(ME)^3
CASME3_HEADER = ("subject", "filename", "onset", "apex", "offset", "au", "objective class", "emotion")


def read_casme3_sheet(path: str | Path) -> list[CodedSample]:
    """CAS(ME)^3 part A micro-expression labels (``casme3_table.xlsx``, the columns of
    ``cas(me)3_part_A_ME_label_JpgIndex``); subjects stay as written (``spNO.1``)."""
    path = Path(path)
    table = _sheet_with_header(path, CASME3_HEADER, "CAS(ME)^3")
    samples = []
    for line, row in table.rows:
        subject, clip = _text(table.get(row, "subject")), _text(table.get(row, "filename"))
        if not subject or not clip:
            continue
        samples.append(CodedSample(
            dataset="casme3", subject=subject, clip=clip,
            onset=_require_frame(path, line, "Onset", table.frame(line, row, "onset")),
            apex=table.frame(line, row, "apex"),
            offset=table.frame(line, row, "offset", unknown=(0,)),
            action_units=parse_action_units(table.get(row, "au")),
            emotion=_text(table.get(row, "emotion")),
            objective_class=_optional_text(table.get(row, "objective class")),
            expression_type="micro",
        ))
    return samples


# ----------------------------------------------------------------------------------------- CAS(ME)^2
CASME_SQ_MAIN, CASME_SQ_SUBJECTS, CASME_SQ_VIDEOS = "CASFEcode_final", "naming rule1", "naming rule2"


def read_casme_sq_sheet(path: str | Path) -> list[CodedSample]:
    """CAS(ME)^2 ``CASME_sq_gt.xlsx`` (no header row). Columns: subject index, ``<video name>_<n>``,
    onset, apex, offset, AUs, estimated emotion, expression type, self-reported emotion.

    "naming rule1" rows read ``15, s15, 1`` (number, folder, index used in the main sheet); "naming
    rule2" rows read ``101, disgust1``. ``video`` becomes ``15_0101``, the prefix of the raw video /
    frame folder names (``15_0101disgustingteeth``).
    """
    path = Path(path)
    sheets = _read_workbook(path)
    missing = [name for name in (CASME_SQ_MAIN, CASME_SQ_SUBJECTS, CASME_SQ_VIDEOS) if name not in sheets]
    if missing:
        raise ValueError(f"{path}: not a CAS(ME)^2 sheet: worksheets {missing} missing")
    subjects = {_text(index): (_text(number), _text(folder))
                for number, folder, index, *_ in _filled_rows(sheets[CASME_SQ_SUBJECTS], 3)}
    videos = {_text(name).lower(): f"{int(_text(code)):04d}"
              for code, name, *_ in _filled_rows(sheets[CASME_SQ_VIDEOS], 2)}
    samples = []
    for line, row in enumerate(sheets[CASME_SQ_MAIN], start=1):
        row = tuple(row) + (None,) * (9 - len(row))
        index, clip = _text(row[0]), _text(row[1])
        if not index and not clip:
            continue
        if index not in subjects:
            raise ValueError(f"{path}: row {line}: subject index {index!r} is not in '{CASME_SQ_SUBJECTS}'")
        number, folder = subjects[index]
        video_name = re.sub(r"_\d+$", "", clip).lower()
        if video_name not in videos:
            raise ValueError(f"{path}: row {line}: video {video_name!r} is not in '{CASME_SQ_VIDEOS}'")
        samples.append(CodedSample(
            dataset="casme_sq", subject=folder, clip=clip,
            onset=_require_frame(path, line, "onset", _frame_number(path, line, "onset", row[2])),
            apex=_frame_number(path, line, "apex", row[3], unknown=(0,)),
            offset=_frame_number(path, line, "offset", row[4], unknown=(0,)),
            action_units=parse_action_units(row[5]),
            emotion=_text(row[6]),
            expression_type=_expression_type(row[7]),
            video=f"{number}_{videos[video_name]}",
            self_report=_optional_text(row[8]),
        ))
    return samples


# ----------------------------------------------------------------------------------------- SAMM Long Videos
SAMMLV_HEADER = ("subject", "filename", "inducement code", "onset", "apex", "offset", "type", "action units")


def read_sammlv_sheet(path: str | Path) -> list[CodedSample]:
    """SAMM Long Videos ``SAMMLV_gt.xlsx``: ``video`` is the long video (``006_1`` for ``006_1_2``)."""
    path = Path(path)
    table = _sheet_with_header(path, SAMMLV_HEADER, "SAMM Long Videos")
    samples = []
    for line, row in table.rows:
        subject, clip = _text(table.get(row, "subject")), _text(table.get(row, "filename"))
        if not subject or not clip:
            continue
        samples.append(CodedSample(
            dataset="sammlv", subject=subject.zfill(3), clip=clip,
            onset=_require_frame(path, line, "Onset", table.frame(line, row, "onset")),
            apex=table.frame(line, row, "apex", unknown=(-1,)),
            offset=table.frame(line, row, "offset", unknown=(0, -1)),
            action_units=parse_action_units(table.get(row, "action units")),
            expression_type=_expression_type(table.get(row, "type")),
            video="_".join(clip.split("_")[:2]),
        ))
    return samples


# ----------------------------------------------------------------------------------------- dispatch
# Header signatures in the order they are tried; more specific ones first (SAMM's header also holds
# SAMM Long Videos' "subject/filename/inducement code").
_SIGNATURES: tuple[tuple[str, Sequence[str], Callable[[str | Path], list[CodedSample]]], ...] = (
    ("casme2", CASME2_HEADER, read_casme2_sheet),
    ("samm", SAMM_HEADER, read_samm_sheet),
    ("sammlv", SAMMLV_HEADER, read_sammlv_sheet),
    ("smic", SMIC_HEADER, read_smic_sheet),
    ("casme3", CASME3_HEADER, read_casme3_sheet),
)


def detect_sheet_format(path: str | Path) -> str:
    """Which coding sheet ``path`` is: casme2, samm, sammlv, smic, casme3 or casme_sq. ValueError if none."""
    path = Path(path)
    sheets = _read_workbook(path)
    if CASME_SQ_SUBJECTS in sheets and CASME_SQ_VIDEOS in sheets:
        return "casme_sq"
    for name, header, _ in _SIGNATURES:
        if any(_find_header(rows, header) is not None for rows in sheets.values()):
            return name
    raise ValueError(f"{path}: not a known micro-expression coding sheet (no CASME II, SAMM, SAMM Long Videos, "
                     "SMIC or CAS(ME)^3 header row in the first 30 rows, no CAS(ME)^2 naming-rule sheets)")


SHEET_READERS: dict[str, Callable[[str | Path], list[CodedSample]]] = {
    **{name: reader for name, _, reader in _SIGNATURES}, "casme_sq": read_casme_sq_sheet,
}


def read_coding_sheet(path: str | Path) -> list[CodedSample]:
    """Samples of any supported coding sheet, its format recognised from the header row."""
    return SHEET_READERS[detect_sheet_format(path)](path)


# ----------------------------------------------------------------------------------------- tables
FRAME_COLUMNS = ("dataset", "subject", "clip", "video", "onset", "apex", "offset", "action_units",
                 "au_numbers", "emotion", "three_class", "objective_class", "expression_type", "self_report")


def to_records(samples: Iterable[CodedSample]) -> list[dict[str, Any]]:
    """One flat dict per sample with the keys of :data:`FRAME_COLUMNS`; AU lists joined with "+"."""
    records = []
    for sample in samples:
        record = asdict(sample)
        record["action_units"] = "+".join(sample.action_units)
        record["au_numbers"] = "+".join(str(n) for n in sample.au_numbers)
        record["three_class"] = sample.three_class
        records.append({name: record[name] for name in FRAME_COLUMNS})
    return records


def to_frame(samples: Iterable[CodedSample]):
    """A pandas DataFrame of :func:`to_records` (columns :data:`FRAME_COLUMNS`; frames as nullable Int64,
    ``three_class`` as nullable Int64 0/1/2)."""
    import pandas as pd

    frame = pd.DataFrame(to_records(samples), columns=list(FRAME_COLUMNS))
    for column in ("onset", "apex", "offset", "three_class"):
        frame[column] = frame[column].astype("Int64")
    return frame
