"""Reading other tools' outputs into mien's schema, so tools can be compared on the same media.

    table = mien.read("OpenFace_output.csv")          # pandas DataFrame, mien columns first
    mien convert Feat_output.csv --output as_mien.csv   # the same from the command line

Supported (format detected from the content, or given): OpenFace 2 CSV (FeatureExtraction /
FaceLandmarkVidMulti), py-feat CSV (``Fex`` saved with ``to_csv``), iMotions exports of Emotient FACET
(tab-separated text with ``#`` header lines) and Affectiva JSON (the API app's output).

Columns with a mien equivalent are renamed and converted (frames from 0, times in seconds, 5-point
landmarks derived from 68-point ones); every other column is kept under its original name, so nothing is
lost. Where a tool's scores are not a probability distribution (FACET evidence, Affectiva 0-100 scores),
the ``expr_`` columns hold independent per-class probabilities that need not sum to 1; ``table.attrs``
says so (``source_tool``, ``expr_meaning``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mien.schema import COLUMNS, EXPRESSION_COLUMNS, EXPRESSIONS, LANDMARK_COLUMNS

FORMATS = ("openface", "pyfeat", "imotions", "affectiva")

# 68-point iBUG indices giving mien's 5 points (image-left eye = points 36-41).
FIVE_FROM_68 = {"left eye": range(36, 42), "right eye": range(42, 48), "nose tip": [30],
                "left mouth corner": [48], "right mouth corner": [54]}

PYFEAT_EMOTIONS = {"anger": "anger", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                   "sadness": "sad", "surprise": "surprise", "neutral": "neutral", "contempt": "contempt"}
FACET_EMOTIONS = {"Joy": "happy", "Anger": "anger", "Surprise": "surprise", "Fear": "fear", "Contempt": "contempt",
                  "Disgust": "disgust", "Sadness": "sad", "Neutral": "neutral"}
AFFECTIVA_EMOTIONS = {"joy": "happy", "sadness": "sad", "disgust": "disgust", "contempt": "contempt",
                      "anger": "anger", "fear": "fear", "surprise": "surprise"}


def detect_format(path: str | Path) -> str:
    """Which tool wrote ``path``, from its content."""
    path = Path(path)
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        head = handle.read(4096)
    if head.lstrip().startswith("{") or head.lstrip().startswith("["):
        return "affectiva"
    if head.startswith("#") and "\t" in head:
        return "imotions"
    header = [c.strip() for c in head.splitlines()[0].split(",")] if head else []
    if "FaceRectX" in header:
        return "pyfeat"
    if "confidence" in header and ("success" in header or "AU01_r" in header):
        return "openface"
    raise ValueError(f"{path}: not an OpenFace, py-feat, iMotions or Affectiva file (format not recognised)")


def read(path: str | Path, format: str | None = None):
    """Read another tool's output file into a pandas DataFrame in mien's schema (see the module docs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    format = format or detect_format(path)
    readers = {"openface": _read_openface, "pyfeat": _read_pyfeat, "imotions": _read_imotions,
               "affectiva": _read_affectiva}
    if format not in readers:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    table = readers[format](path)
    table.attrs.setdefault("expr_meaning", "probability distribution over the 8 expressions")
    table.attrs["source_tool"] = format
    table.attrs["source_file"] = str(path)
    return _order(table)


def _order(table):
    """mien's columns first (those present), then the tool's own columns in their original order."""
    ours = [c for c in COLUMNS if c in table.columns]
    return table[ours + [c for c in table.columns if c not in ours]]


def _with(table, columns: dict):
    """``table`` with ``columns`` (name -> values) added or replaced in one step (no fragmentation)."""
    import pandas as pd

    if not columns:
        return table
    kept = table.drop(columns=[c for c in columns if c in table.columns])
    return pd.concat([kept, pd.DataFrame(columns, index=table.index)], axis=1)


def _five_points(table) -> dict:
    """mien's 5-point landmark columns (and ``face_size``) from 68-point ``x_i`` / ``y_i`` columns."""
    if not {"x_0", "y_67"} <= set(table.columns):
        return {}
    new = {}
    for index, points in enumerate(FIVE_FROM_68.values()):
        new[f"lm5_x_{index}"] = table[[f"x_{i}" for i in points]].astype(float).mean(axis=1).to_numpy()
        new[f"lm5_y_{index}"] = table[[f"y_{i}" for i in points]].astype(float).mean(axis=1).to_numpy()
    left = np.stack([new["lm5_x_0"], new["lm5_y_0"]], axis=1)
    right = np.stack([new["lm5_x_1"], new["lm5_y_1"]], axis=1)
    new["face_size"] = np.linalg.norm(right - left, axis=1)
    return new


def _expressions(table, scores: dict[str, str], scale: float = 1.0, transform=None) -> dict:
    """``expr_<class>`` columns from the tool's columns (``scores``: its column -> mien class), plus the
    ``expression`` label (the highest score)."""
    new = {}
    for column, name in scores.items():
        if column in table.columns:
            values = table[column].astype(float).to_numpy()
            new[f"expr_{name}"] = transform(values) if transform else values / scale
    present = [c for c in EXPRESSION_COLUMNS if c in new]
    if present:
        values = np.stack([new[c] for c in present], axis=1)
        has_value = ~np.isnan(values).all(axis=1)
        best = np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)
        new["expression"] = [present[b][len("expr_"):] if ok else None for b, ok in zip(best, has_value)]
    return new


def _check_whole_rows(path: Path) -> None:
    """Refuse a CSV table with a row shorter than its header (a file cut short would otherwise become a row of
    empty values)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for number, row in enumerate(reader, 2):
            if row and len(row) < len(header):
                raise ValueError(f"{path}: line {number} has {len(row)} of the header's {len(header)} fields "
                                 "(a truncated file?)")


def _read_openface(path: Path):
    import pandas as pd

    _check_whole_rows(path)
    table = pd.read_csv(path, skipinitialspace=True)
    table.columns = [c.strip() for c in table.columns]
    table = table.rename(columns={"confidence": "face_score"})
    new = {"frame": table["frame"].astype(int).to_numpy() - 1,  # OpenFace counts frames from 1
           "input": path.name, **_five_points(table)}
    if "face_id" not in table.columns:
        new["face_id"] = 0
    return _with(table, new)


def _read_pyfeat(path: Path):
    import pandas as pd

    _check_whole_rows(path)
    table = pd.read_csv(path)
    table = table.drop(columns=[c for c in table.columns if c.startswith("Unnamed")])
    table = table.rename(columns={"FaceRectX": "face_x", "FaceRectY": "face_y", "FaceRectWidth": "face_width",
                                  "FaceRectHeight": "face_height", "FaceScore": "face_score"})
    new = {"success": table["face_score"].notna().astype(int).to_numpy(), **_five_points(table),
           **_expressions(table, PYFEAT_EMOTIONS)}
    if "frame" not in table.columns:
        new["frame"] = 0
    return _with(table, new)


def _read_imotions(path: Path):
    import pandas as pd

    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    while lines and not lines[0].strip():
        lines.pop(0)
    rows = list(csv.reader(lines, delimiter="\t"))
    header = rows[0]
    table = pd.DataFrame([r + [""] * (len(header) - len(r)) for r in rows[1:] if any(v.strip() for v in r)],
                         columns=header)
    table = table.replace({"": np.nan})
    numeric = [c for c in table.columns if c not in ("StudyName", "Name", "Gender", "StimulusName", "SlideType",
                                                      "EventSource", "ExportDate", "PostMarker", "Annotation",
                                                      "LiveMarker", "KeyStroke", "MarkerText", "SceneType",
                                                      "SceneOutput", "SceneParent", "GazeAOI", "FixationAOI")]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    table = table.rename(columns={"FrameNo": "frame", "FaceRect X": "face_x", "FaceRect Y": "face_y",
                                  "FaceRect Width": "face_width", "FaceRect Height": "face_height"})
    times = table["FrameTime"] if "FrameTime" in table else table["Timestamp"]
    evidence = {f"{tool} Evidence": name for tool, name in FACET_EMOTIONS.items()}
    table = _with(table, {
        "timestamp": (times / 1000.0).to_numpy(),  # milliseconds in the export
        "success": (table["NoOfFaces"].fillna(0) > 0).astype(int).to_numpy(),
        "input": table["StimulusName"].to_numpy() if "StimulusName" in table else path.name,
        # FACET evidence is log10 of the odds; as a probability it is independent per class.
        **_expressions(table, evidence, transform=lambda e: 1.0 / (1.0 + 10.0 ** (-e))),
    })
    table.attrs["expr_meaning"] = "independent per-class probabilities from FACET evidence (log10 odds); not a distribution"
    return table


def _read_affectiva(path: Path):
    import pandas as pd

    data = json.loads(path.read_text(encoding="utf-8"))
    records = data if isinstance(data, list) else [data]
    table = pd.DataFrame(records)
    table = table.rename(columns={"FileName": "input"})
    table = _with(table, {
        "timestamp": table["Timestamp"].to_numpy(float) if "Timestamp" in table else 0.0,
        "frame": np.arange(len(table)),
        "success": table["joy"].notna().astype(int).to_numpy() if "joy" in table else 0,
        **_expressions(table, AFFECTIVA_EMOTIONS, scale=100.0),
    })
    table.attrs["expr_meaning"] = "independent per-class likelihoods (Affectiva 0-100 scores / 100); not a distribution"
    return table


def write_converted(table, output: str | Path, fmt: str | None = None) -> None:
    """Write a table returned by :func:`read` with mien's writers (atomic; CSV, JSON lines, JSON, Parquet)."""
    from mien.io.writers import write_whole_table

    columns = list(table.columns)
    write_whole_table(output, columns, ({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                                        for row in table.to_dict(orient="records")), fmt)


__all__ = ["read", "detect_format", "write_converted", "FORMATS", "EXPRESSIONS", "LANDMARK_COLUMNS"]
