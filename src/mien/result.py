"""``Result``: the one type every stage, writer, the CLI and the server speak.

A result covers one or more *frames* (a still image is one frame; a multi-page TIFF or a video has many)
and the *faces* found in them, stored as parallel numpy arrays (first dimension = number of faces), in the
spirit of supervision's ``Detections``. ``to_records()`` is the single serialiser: pandas, CSV, JSON lines
and Parquet are all built on it, so every output has the same columns (documented in :mod:`mien.schema`).

Rows: one per face; a frame gives a ``success = 0`` row only when detection found no face in it (or it
failed). Selecting faces (``r[mask]``) keeps the frame table and each frame's ``faces_detected``, so a
frame whose faces were all filtered away gives no row at all, and :meth:`Result.merge` leaves it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from mien.detect.base import Detections
from mien.quality import quality_labels
from mien.schema import (AU_INTENSITY_COLUMNS, AU_PRESENCE_COLUMNS, AU_PROBABILITY_COLUMNS, AUS, COLUMNS,
                         EXPRESSION_COLUMNS, EXPRESSIONS, EYE_OPENNESS_COLUMNS, LANDMARK_COLUMNS, POSE_COLUMNS)


@dataclass(frozen=True)
class FaceField:
    """One per-face array of a :class:`Result`: the one declaration that building (shape checks, filling),
    selection, merging and :meth:`Result.to_records` iterate over. Adding a head = one entry here, one
    attribute on :class:`Result`, its columns in :mod:`mien.schema`.

    shape: the per-face shape (``()`` one value; ``None`` in it: any width).
    fill: the value of every face when a Result is built without this field (a head that did not run);
        None: the field is required (a Result built without it stays without it, as a partial result).
    columns: the table columns its values go to, row-major (``()``: not written, or written by code).
    plain: NaN is written as an empty cell (None); False: written as the float it is.
    """

    name: str
    dtype: type
    shape: tuple[int | None, ...] = ()
    fill: float | None = None
    columns: tuple[str, ...] = ()
    plain: bool = True

    def empty(self, n: int = 0) -> np.ndarray:
        """(n, *shape) of ``fill`` (0 rows, or n rows of a head that did not run; width 0 for ``None``)."""
        shape = (n, *(0 if width is None else width for width in self.shape))
        return np.full(shape, 0 if self.fill is None else self.fill, self.dtype)


NAN = float("nan")
FACE_FIELDS: tuple[FaceField, ...] = (
    FaceField("frame_index", np.int64),
    FaceField("face_id", np.int64),
    FaceField("boxes", np.float32, (4,)),  # written as face_x, face_y, face_width, face_height
    FaceField("face_scores", np.float32, (), columns=("face_score",), plain=False),
    FaceField("landmarks", np.float32, (5, 2), columns=LANDMARK_COLUMNS),
    FaceField("blur", np.float32, (), columns=("blur",), plain=False),
    FaceField("outside", np.float32, (), columns=("outside",), plain=False),
    FaceField("expression_probs", np.float32, (len(EXPRESSIONS),), columns=EXPRESSION_COLUMNS, plain=False),
    FaceField("valence", np.float32, (), NAN, ("valence",)),
    FaceField("arousal", np.float32, (), NAN, ("arousal",)),
    FaceField("head_pose", np.float32, (3,), NAN, POSE_COLUMNS),
    FaceField("eye_openness", np.float32, (2,), NAN, EYE_OPENNESS_COLUMNS),
    FaceField("au_probs", np.float32, (len(AUS),), NAN, AU_PROBABILITY_COLUMNS),
    FaceField("au_features", np.float32, (None,), 0.0),  # video's per-track AU baseline only
)
FIELDS_BY_NAME: dict[str, FaceField] = {f.name: f for f in FACE_FIELDS}
FACE_FIELD_NAMES: tuple[str, ...] = tuple(FIELDS_BY_NAME)


def _empty_field(name: str):
    return lambda: FIELDS_BY_NAME[name].empty()


FRAME_FIELDS = ("inputs", "frames", "timestamps", "widths", "heights", "errors", "faces_detected")


@dataclass
class FrameTable:
    """Per-frame facts (length F): which input and frame, its size (None when it failed), any error, and
    how many faces detection found in it (``faces_detected``; None until a :class:`Result` is built on
    the table, which counts its faces; 0 for a failed frame).

    ``data``: further per-frame values that are not table columns, ``name -> list`` of length F (video:
    ``missed_boxes``, the (K, 4) predicted boxes of tracked faces the detector missed in that frame).
    """

    inputs: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    widths: list[int | None] = field(default_factory=list)
    heights: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    faces_detected: list[int | None] = field(default_factory=list)
    data: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.faces_detected and self.inputs:
            self.faces_detected = [None] * len(self.inputs)
        columns = {name: getattr(self, name) for name in FRAME_FIELDS}
        columns.update({f"data[{key!r}]": values for key, values in self.data.items()})
        for name, values in columns.items():
            if len(values) != len(self.inputs):
                raise ValueError(f"FrameTable.{name}: {len(values)} values for {len(self.inputs)} frames")

    def __len__(self) -> int:
        return len(self.inputs)

    def append(self, source: str, frame: int, timestamp: float, width: int | None, height: int | None,
               error: str, faces_detected: int | None = None) -> int:
        """Add one frame; returns its row index."""
        error = " ".join(error.split()) if error else ""  # one line, whatever the exception printed
        for name, value in zip(FRAME_FIELDS, (source, frame, timestamp, width, height, error, faces_detected)):
            getattr(self, name).append(value)
        for values in self.data.values():
            values.append(None)
        return len(self.inputs) - 1

    def extend(self, other: "FrameTable") -> None:
        before = len(self)
        for name in FRAME_FIELDS:
            getattr(self, name).extend(getattr(other, name))
        for key in dict.fromkeys([*self.data, *other.data]):
            self.data.setdefault(key, [None] * before).extend(other.data.get(key, [None] * len(other)))

    def select(self, rows: range | Sequence[int]) -> "FrameTable":
        """The frames ``rows`` (a range, or row numbers in the order wanted), as a new table."""
        if isinstance(rows, range):
            pick = lambda values: values[rows.start:rows.stop]  # noqa: E731
        else:
            pick = lambda values: [values[row] for row in rows]  # noqa: E731
        return FrameTable(*(pick(getattr(self, name)) for name in FRAME_FIELDS),
                          data={key: pick(values) for key, values in self.data.items()})


@dataclass
class Result:
    """Faces found in a set of frames.

    Per face (N rows, N = ``len(face_id)``; declared once in :data:`FACE_FIELDS`):
        frame_index: (N,) int, row of ``frames`` this face belongs to.
        face_id: (N,) int, index of the face within its frame (0 = highest detector score).
        boxes: (N, 4) float32 ``x1, y1, x2, y2`` pixels of the original image.
        face_scores: (N,) float32 detector confidence in [0, 1].
        landmarks: (N, 5, 2) float32 pixels (left eye, right eye, nose tip, left and right mouth corners,
            left/right as seen in the image); NaN when not measured (whole-image mode).
        blur: (N,) float32 Laplacian variance of the aligned face (higher = sharper).
        outside: (N,) float32 share of the aligned crop outside the image, 0..1.
        expression_probs: (N, 8) float32, classes in :data:`mien.schema.EXPRESSIONS` order.
        valence, arousal: (N,) float32 in [-1, 1] (see :mod:`mien.tasks.valence`).
        head_pose: (N, 3) float32 pitch, yaw, roll in degrees (see :mod:`mien.tasks.pose`); NaN without landmarks.
        eye_openness: (N, 2) float32 eye aspect ratios of the image-left and image-right eye; NaN when not measured.
        au_probs: (N, len(AUS)) float32 presence probabilities of :data:`mien.schema.AUS`; NaN when the
            expression model has no AU head. Presence thresholds: ``metadata["au_thresholds"]``.
        au_features: (N, D) float32 geometric AU features (:mod:`mien.tasks.aus`, ``aus="mesh"``; D = 0
            otherwise), kept for video's per-track neutral baseline; not written to tables.
        data: extra per-face columns from further heads, ``name -> (N,)`` arrays.
    metadata: run-level facts (model names, thresholds), not per row; per-frame facts go in ``frames``.

    Shapes are checked when a Result is built (ValueError naming the field). Optional heads left out read
    as NaN for every face. Selecting faces (``r[mask]``) keeps every frame: a frame whose faces were all
    filtered away keeps its ``frames.faces_detected`` count and gives no table row, so ``success = 0``
    rows mean only "detection found no face" (or the frame failed).
    """

    frames: FrameTable = field(default_factory=FrameTable)
    frame_index: np.ndarray = field(default_factory=_empty_field("frame_index"))
    face_id: np.ndarray = field(default_factory=_empty_field("face_id"))
    boxes: np.ndarray = field(default_factory=_empty_field("boxes"))
    face_scores: np.ndarray = field(default_factory=_empty_field("face_scores"))
    landmarks: np.ndarray = field(default_factory=_empty_field("landmarks"))
    blur: np.ndarray = field(default_factory=_empty_field("blur"))
    outside: np.ndarray = field(default_factory=_empty_field("outside"))
    expression_probs: np.ndarray = field(default_factory=_empty_field("expression_probs"))
    valence: np.ndarray = field(default_factory=_empty_field("valence"))
    arousal: np.ndarray = field(default_factory=_empty_field("arousal"))
    head_pose: np.ndarray = field(default_factory=_empty_field("head_pose"))
    eye_openness: np.ndarray = field(default_factory=_empty_field("eye_openness"))
    au_probs: np.ndarray = field(default_factory=_empty_field("au_probs"))
    au_features: np.ndarray = field(default_factory=_empty_field("au_features"))
    data: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(np.asarray(self.face_id))
        for spec in FACE_FIELDS:
            values = np.asarray(getattr(self, spec.name))
            if n and len(values) == 0 and spec.fill is not None:
                values = spec.empty(n)  # a head that did not run: not measured
            elif len(values) or values.ndim != 1 + len(spec.shape):  # given: N rows of the declared shape
                _check_shape(f"Result.{spec.name}", values, n, spec.shape)
            setattr(self, spec.name, values)
        for key, values in self.data.items():
            self.data[key] = np.asarray(values)
            _check_shape(f"Result.data[{key!r}]", self.data[key], n, None)
        if len(self.frame_index) and len(self.frames) and not (
                0 <= self.frame_index.min() and self.frame_index.max() < len(self.frames)):
            raise ValueError(f"Result.frame_index: values {self.frame_index.min()}..{self.frame_index.max()} "
                             f"outside the {len(self.frames)} frames of the frame table")
        if None in self.frames.faces_detected and len(self.frame_index) == n:
            counts = np.bincount(self.frame_index, minlength=len(self.frames)).tolist() if n else [0] * len(self.frames)
            table = self.frames.select(range(len(self.frames)))  # the caller's table is left as it is
            table.faces_detected = [c if known is None else known for c, known in zip(counts, table.faces_detected)]
            self.frames = table

    @classmethod
    def from_detections(cls, frames: FrameTable, detections: Sequence[Detections], **fields: Any) -> "Result":
        """A Result whose faces are ``detections`` (one :class:`~mien.detect.base.Detections` per frame row of
        ``frames``, empty for a frame without faces): ``frame_index``, ``face_id``, ``boxes``, ``face_scores``
        and ``landmarks`` come from them, every other field from ``fields`` (one row per face, frame order)."""
        if len(detections) != len(frames):
            raise ValueError(f"Result.from_detections: {len(detections)} detections for {len(frames)} frames")
        found = [(row, d) for row, d in enumerate(detections) if len(d)]
        if found:
            fields.update(
                frame_index=np.concatenate([np.full(len(d), row) for row, d in found]),
                face_id=np.concatenate([np.arange(len(d)) for _, d in found]),
                boxes=np.concatenate([d.boxes for _, d in found]),
                face_scores=np.concatenate([d.scores for _, d in found]),
                landmarks=np.concatenate([d.landmarks for _, d in found]))
        return cls(frames=frames, **fields)

    @property
    def detections(self) -> Detections:
        """The faces' boxes, scores and landmarks as :class:`~mien.detect.base.Detections` (views, no copy)."""
        return Detections(self.boxes, self.face_scores, self.landmarks)

    def __len__(self) -> int:
        return len(self.face_id)

    # ----------------------------------------------------------------- derived per-face values
    @property
    def expressions(self) -> list[str]:
        """Most probable expression per face."""
        return [EXPRESSIONS[i] for i in self.expression_probs.argmax(axis=1)] if len(self) else []

    @property
    def face_size(self) -> np.ndarray:
        """Inter-ocular distance per face in pixels."""
        return np.linalg.norm(self.landmarks[:, 1] - self.landmarks[:, 0], axis=1)

    @property
    def quality(self) -> list[str]:
        """``"ok"`` or ``;``-joined reasons (``small``, ``blurry``, ``cut``) per face; see :mod:`mien.quality`."""
        return quality_labels(self.face_size, self.blur, self.outside)

    @property
    def uncertain(self) -> np.ndarray | None:
        """1 where the calibrated top probability is below the model's threshold, else 0 (None: no threshold)."""
        threshold = self.metadata.get("uncertain_below")
        if threshold is None:
            return None
        return (self.expression_probs.max(axis=1) < threshold).astype(np.int64)

    @property
    def au_presence(self) -> np.ndarray:
        """(N, len(AUS)) int: 1 where the AU probability reaches its threshold, 0 below, -1 when not measured."""
        thresholds = np.asarray(self.metadata.get("au_thresholds", [0.5] * len(AUS)), np.float32)
        presence = (self.au_probs >= thresholds).astype(np.int64)
        presence[np.isnan(self.au_probs)] = -1
        return presence

    @property
    def au_intensity(self) -> np.ndarray | None:
        """(N, len(AUS)) float32 AU intensities on OpenFace's 0-5 scale, from the ``AUxx_r`` columns of
        ``data`` (``aus="mesh"``); NaN for an AU without its column; None when no intensity was measured."""
        present = [(k, name) for k, name in enumerate(AU_INTENSITY_COLUMNS) if name in self.data]
        if not present:
            return None
        levels = np.full((len(self), len(AUS)), np.nan, np.float32)
        for k, name in present:
            levels[:, k] = self.data[name]
        return levels

    @property
    def errors(self) -> list[str]:
        """Errors of the frames that failed, one message each."""
        return [e for e in self.frames.errors if e]

    # ----------------------------------------------------------------- selection and merging
    def __getitem__(self, index) -> "Result":
        """Select faces (boolean mask, indices or slice); the frame table is kept whole, so a frame whose
        faces were all filtered away stays a frame with no selected face (and no table row)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        n = len(self.face_id)
        selected = {name: getattr(self, name)[index] for name in FACE_FIELD_NAMES
                    if len(getattr(self, name)) == n}  # a field never given stays absent
        return Result(frames=self.frames, **selected, data={k: v[index] for k, v in self.data.items()},
                      metadata=dict(self.metadata))

    def frames_slice(self, rows: range) -> "Result":
        """The frames ``rows`` (a contiguous range) with their faces, re-indexed from 0."""
        part = self[(self.frame_index >= rows.start) & (self.frame_index < rows.stop)]
        part.frames = self.frames.select(rows)
        part.frame_index = part.frame_index - rows.start
        return part

    def filtered_frames(self) -> np.ndarray:
        """(F,) bool: frames where detection found faces but none of them is in this Result (a selection
        filtered them away). They give no table row."""
        has_faces = np.zeros(len(self.frames), bool)
        if len(self.frames):
            has_faces[self.frame_index] = True
        detected = np.array([bool(count) for count in self.frames.faces_detected], bool).reshape(-1)
        return detected & ~has_faces

    @classmethod
    def merge(cls, results: Sequence["Result"]) -> "Result":
        """Concatenate results (frames and faces), keeping the order given.

        Frames whose faces were all filtered away by a selection (:meth:`filtered_frames`) are left out:
        they give no row, so ``merge([r, r[:0]])`` has the frames and rows of ``r``. Metadata must agree
        (equal values merge; a result without frames carries none); results of different analyzers
        raise ValueError naming the first key that differs.
        """
        metadata = _common_metadata(results)
        parts = [r._without_filtered_frames() for r in results]
        if not parts:
            return cls(metadata=metadata)
        frames = FrameTable()
        for part in parts:
            frames.extend(part.frames)
        fields = {name: _concatenate_rows([_filled(r, name) for r in parts]) for name in FACE_FIELD_NAMES}
        offsets = np.cumsum([0] + [len(r.frames) for r in parts[:-1]])
        fields["frame_index"] = np.concatenate([r.frame_index + o for r, o in zip(parts, offsets)])
        data = {key: np.concatenate([r.data[key] if key in r.data else np.full(len(r), np.nan, np.float32)
                                     for r in parts])
                for key in dict.fromkeys(k for r in parts for k in r.data)}
        return cls(frames=frames, **fields, data=data, metadata=metadata)

    def _without_filtered_frames(self) -> "Result":
        filtered = self.filtered_frames()
        if not filtered.any():
            return self
        kept = np.flatnonzero(~filtered)
        new_row = np.cumsum(~filtered) - 1  # old frame row -> new frame row (for kept rows)
        part = self[np.arange(len(self))]
        part.frames = self.frames.select(kept.tolist())
        part.frame_index = new_row[self.frame_index].astype(np.int64)
        return part

    # ----------------------------------------------------------------- the one serialiser
    def columns(self) -> list[str]:
        return list(COLUMNS) + [k for k in self.data if k not in COLUMNS]

    def to_records(self) -> Iterator[dict[str, Any]]:
        """One dict per face, in frame order, plus one ``success = 0`` row per frame where detection found
        no face (or that failed). A frame whose faces were all filtered away by a selection gives no row."""
        faces_by_frame: dict[int, list[int]] = {}
        for face, frame in enumerate(self.frame_index.tolist()):
            faces_by_frame.setdefault(frame, []).append(face)
        derived = {"quality": self.quality, "expression": self.expressions, "face_size": self.face_size}
        uncertain = self.uncertain
        presence = self.au_presence
        written = [(spec, getattr(self, spec.name)) for spec in FACE_FIELDS if spec.columns]
        extra = [k for k in self.data if k not in COLUMNS]
        for frame in range(len(self.frames)):
            base = {
                "input": self.frames.inputs[frame],
                "frame": int(self.frames.frames[frame]),
                "timestamp": float(self.frames.timestamps[frame]),
            }
            size = {"image_width": self.frames.widths[frame], "image_height": self.frames.heights[frame]}
            faces = faces_by_frame.get(frame, [])
            if not faces:
                if self.frames.faces_detected[frame]:  # filtered away by a selection: no row
                    continue
                record = dict.fromkeys(COLUMNS, None)
                record.update(base, face_id=-1, success=0, error=self.frames.errors[frame], **size)
                record.update(dict.fromkeys(extra, None))
                yield record
                continue
            for face in faces:
                record = dict.fromkeys(COLUMNS)
                x1, y1, x2, y2 = (float(v) for v in self.boxes[face])
                record.update(base, face_id=int(self.face_id[face]), success=1, error="", **size,
                              face_x=x1, face_y=y1, face_width=x2 - x1, face_height=y2 - y1,
                              alignment="landmarks" if np.isfinite(self.landmarks[face]).all() else "whole-image",
                              face_size=_plain(float(derived["face_size"][face])), quality=derived["quality"][face],
                              expression=derived["expression"][face],
                              uncertain=None if uncertain is None else int(uncertain[face]))
                for spec, values in written:
                    convert = _plain if spec.plain else _same
                    record.update(zip(spec.columns, (convert(float(v)) for v in np.ravel(values[face]))))
                record.update(zip(AU_PRESENCE_COLUMNS, (int(c) if c >= 0 else None for c in presence[face])))
                for key in extra:
                    record[key] = _plain(self.data[key][face])
                yield record

    # ----------------------------------------------------------------- conveniences (see mien.tables)
    def to_pandas(self, schema: str = "mien"):
        from mien.tables import records_to_pandas

        return records_to_pandas(self.to_records(), self.columns(), schema)

    def to_json(self, path=None, schema: str = "mien", lines: bool = True) -> str | None:
        """JSON lines (one object per row; ``lines=False``: one JSON array); text when ``path`` is None."""
        from mien.tables import write_table

        return write_table(self, path, "jsonl" if lines else "json", schema)

    def to_csv(self, path=None, schema: str = "mien") -> str | None:
        from mien.tables import write_table

        return write_table(self, path, "csv", schema)

    def to_parquet(self, path, schema: str = "mien") -> None:
        from mien.tables import write_table

        write_table(self, path, "parquet", schema)

    def __repr__(self) -> str:
        counts = ", ".join(f"{e}={n}" for e, n in zip(*np.unique(self.expressions, return_counts=True))) if len(self) else ""
        return (f"Result({len(self.frames)} frames, {len(self)} faces, {len(self.errors)} errors"
                + (f"; {counts}" if counts else "") + ")")


def _check_shape(name: str, values: np.ndarray, n: int, shape: tuple[int | None, ...] | None) -> None:
    """Raise ValueError unless ``values`` has ``n`` rows of ``shape`` (None: any; None in it: any width)."""
    fits = values.ndim >= 1 and len(values) == n
    if fits and shape is not None:
        fits = values.ndim == 1 + len(shape) and all(w is None or w == v for w, v in zip(shape, values.shape[1:]))
    if not fits:
        wanted = "(N, ...)" if shape is None else "(" + ", ".join(["N", *("D" if w is None else str(w) for w in shape)]) + ")"
        raise ValueError(f"{name}: expected shape {wanted} with N = {n} faces (the length of face_id), "
                         f"got {values.shape}")


def _filled(result: Result, name: str) -> np.ndarray:
    """A per-face field with one row per face: a 2-D field never filled (``au_features`` of an analyzer
    without the mesh AU model) reads as (N, 0)."""
    values = getattr(result, name)
    if len(values) != len(result.face_id) and values.ndim == 2:
        return np.zeros((len(result.face_id), 0), np.float32)
    return values


def _concatenate_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Row-wise concatenation; 2-D arrays of different widths (``au_features`` of different analyzers) are
    padded with NaN to the widest."""
    if all(a.ndim == 2 for a in arrays) and len({a.shape[1] for a in arrays}) > 1:
        width = max(a.shape[1] for a in arrays)
        arrays = [np.pad(a.astype(np.float32), ((0, 0), (0, width - a.shape[1])), constant_values=np.nan)
                  for a in arrays]
    return np.concatenate(arrays)


def _common_metadata(results: Sequence[Result]) -> dict[str, Any]:
    """The metadata all ``results`` with frames agree on (ValueError naming the first key that differs)."""
    carrying = [(i, r) for i, r in enumerate(results) if len(r.frames)] or list(enumerate(results[:1]))
    if not carrying:
        return {}
    first_index, first = carrying[0]
    for index, result in carrying[1:]:
        for key in dict.fromkeys([*first.metadata, *result.metadata]):
            if key not in first.metadata or key not in result.metadata or not _equal(first.metadata[key],
                                                                                     result.metadata[key]):
                raise ValueError(
                    f"Result.merge: results {first_index} and {index} disagree on metadata {key!r} "
                    f"({_shown(first.metadata, key)} vs {_shown(result.metadata, key)}); "
                    "results of differently configured analyzers cannot be merged into one table")
    return dict(first.metadata)


def _shown(metadata: dict[str, Any], key: str) -> str:
    return repr(metadata[key]) if key in metadata else "absent"


def _equal(a: Any, b: Any) -> bool:
    """Value equality for metadata: arrays by content, NaN equal to NaN, containers item by item."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        return all(_equal(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # objects whose == is not a truth value
        return False


def _same(value: float) -> float:
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
