"""``Result``: the one type every stage, writer, the CLI and the server speak.

A result covers one or more *frames* (a still image is one frame; a multi-page TIFF or a video has many)
and the *faces* found in them, stored as parallel numpy arrays (first dimension = number of faces), in the
spirit of supervision's ``Detections``. ``to_records()`` is the single serialiser: pandas, CSV, JSON lines
and Parquet are all built on it, so every output has the same columns (documented in :mod:`mien.schema`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from mien.quality import quality_labels
from mien.schema import (AU_PRESENCE_COLUMNS, AU_PROBABILITY_COLUMNS, AUS, COLUMNS, EXPRESSION_COLUMNS, EXPRESSIONS,
                         EYE_OPENNESS_COLUMNS, LANDMARK_COLUMNS, POSE_COLUMNS)

# Per-face arrays of a Result, in one place: selection and merging iterate over this list.
FACE_FIELDS = ("frame_index", "face_id", "boxes", "face_scores", "landmarks", "blur", "outside", "expression_probs",
               "valence", "arousal", "head_pose", "eye_openness", "au_probs", "au_features")


FRAME_FIELDS = ("inputs", "frames", "timestamps", "widths", "heights", "errors")


@dataclass
class FrameTable:
    """Per-frame facts (length F): which input and frame, its size (None when it failed), and any error."""

    inputs: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    widths: list[int | None] = field(default_factory=list)
    heights: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inputs)

    def append(self, source: str, frame: int, timestamp: float, width: int | None, height: int | None,
               error: str) -> int:
        """Add one frame; returns its row index."""
        error = " ".join(error.split()) if error else ""  # one line, whatever the exception printed
        for name, value in zip(FRAME_FIELDS, (source, frame, timestamp, width, height, error)):
            getattr(self, name).append(value)
        return len(self.inputs) - 1

    def extend(self, other: "FrameTable") -> None:
        for name in FRAME_FIELDS:
            getattr(self, name).extend(getattr(other, name))

    def select(self, rows: range) -> "FrameTable":
        return FrameTable(*(getattr(self, name)[rows.start:rows.stop] for name in FRAME_FIELDS))


def _empty(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass
class Result:
    """Faces found in a set of frames.

    Per face (N rows):
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
    metadata: run-level facts (model names, thresholds), not per row.
    """

    frames: FrameTable = field(default_factory=FrameTable)
    frame_index: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))
    face_id: np.ndarray = field(default_factory=lambda: _empty((0,), np.int64))
    boxes: np.ndarray = field(default_factory=lambda: _empty((0, 4)))
    face_scores: np.ndarray = field(default_factory=lambda: _empty((0,)))
    landmarks: np.ndarray = field(default_factory=lambda: _empty((0, 5, 2)))
    blur: np.ndarray = field(default_factory=lambda: _empty((0,)))
    outside: np.ndarray = field(default_factory=lambda: _empty((0,)))
    expression_probs: np.ndarray = field(default_factory=lambda: _empty((0, len(EXPRESSIONS))))
    valence: np.ndarray = field(default_factory=lambda: _empty((0,)))
    arousal: np.ndarray = field(default_factory=lambda: _empty((0,)))
    head_pose: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    eye_openness: np.ndarray = field(default_factory=lambda: _empty((0, 2)))
    au_probs: np.ndarray = field(default_factory=lambda: _empty((0, len(AUS))))
    au_features: np.ndarray = field(default_factory=lambda: _empty((0, 0)))
    data: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # optional heads: a Result built without them gets NaN (not measured) for every face
        n = len(self.face_id)
        for name, width in (("valence", None), ("arousal", None), ("head_pose", 3), ("eye_openness", 2),
                            ("au_probs", len(AUS))):
            if n and len(getattr(self, name)) == 0:
                setattr(self, name, np.full((n,) if width is None else (n, width), np.nan, np.float32))
        if len(self.au_features) != n:
            self.au_features = np.zeros((n, 0), np.float32)

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
    def errors(self) -> list[str]:
        """Errors of the frames that failed, one message each."""
        return [e for e in self.frames.errors if e]

    # ----------------------------------------------------------------- selection and merging
    def __getitem__(self, index) -> "Result":
        """Select faces (boolean mask, indices or slice); the frame table is kept whole."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        selected = {name: getattr(self, name)[index] for name in FACE_FIELDS
                    if len(getattr(self, name)) == len(self.face_id)}  # a field never filled is rebuilt empty
        return Result(frames=self.frames, **selected, data={k: v[index] for k, v in self.data.items()},
                      metadata=dict(self.metadata))

    def frames_slice(self, rows: range) -> "Result":
        """The frames ``rows`` (a contiguous range) with their faces, re-indexed from 0."""
        part = self[(self.frame_index >= rows.start) & (self.frame_index < rows.stop)]
        part.frames = self.frames.select(rows)
        part.frame_index = part.frame_index - rows.start
        return part

    @classmethod
    def merge(cls, results: Sequence["Result"]) -> "Result":
        """Concatenate results (frames and faces), keeping the order given."""
        merged = cls()
        if not results:
            return merged
        offsets = np.cumsum([0] + [len(r.frames) for r in results[:-1]])
        for result in results:
            merged.frames.extend(result.frames)
        for name in FACE_FIELDS:
            setattr(merged, name, _concatenate_rows([_filled(r, name) for r in results]))
        merged.frame_index = np.concatenate([r.frame_index + o for r, o in zip(results, offsets)])
        for key in dict.fromkeys(k for r in results for k in r.data):
            merged.data[key] = np.concatenate([
                r.data[key] if key in r.data else np.full(len(r), np.nan, np.float32) for r in results
            ])
        merged.metadata = dict(results[0].metadata)
        return merged

    # ----------------------------------------------------------------- the one serialiser
    def columns(self) -> list[str]:
        return list(COLUMNS) + [k for k in self.data if k not in COLUMNS]

    def to_records(self) -> Iterator[dict[str, Any]]:
        """One dict per face, in frame order, plus one ``success = 0`` row per frame without faces."""
        faces_by_frame: dict[int, list[int]] = {}
        for face, frame in enumerate(self.frame_index.tolist()):
            faces_by_frame.setdefault(frame, []).append(face)
        quality = self.quality
        expressions = self.expressions
        uncertain = self.uncertain
        face_size = self.face_size
        presence = self.au_presence
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
                record = dict.fromkeys(COLUMNS, None)
                record.update(base, face_id=-1, success=0, error=self.frames.errors[frame], **size)
                record.update(dict.fromkeys(extra, None))
                yield record
                continue
            for face in faces:
                x1, y1, x2, y2 = (float(v) for v in self.boxes[face])
                record = {**base, "face_id": int(self.face_id[face]), "success": 1, "error": "", **size,
                          "face_x": x1, "face_y": y1, "face_width": x2 - x1, "face_height": y2 - y1,
                          "face_score": float(self.face_scores[face]),
                          "alignment": "landmarks" if np.isfinite(self.landmarks[face]).all() else "whole-image"}
                record.update(zip(LANDMARK_COLUMNS, (_plain(float(v)) for v in self.landmarks[face].ravel())))
                record.update(face_size=_plain(float(face_size[face])), blur=float(self.blur[face]),
                              outside=float(self.outside[face]), quality=quality[face],
                              expression=expressions[face],
                              uncertain=None if uncertain is None else int(uncertain[face]))
                record.update(zip(EXPRESSION_COLUMNS, (float(p) for p in self.expression_probs[face])))
                record.update(valence=_plain(float(self.valence[face])), arousal=_plain(float(self.arousal[face])))
                record.update(zip(POSE_COLUMNS, (_plain(float(v)) for v in self.head_pose[face])))
                record.update(zip(EYE_OPENNESS_COLUMNS, (_plain(float(v)) for v in self.eye_openness[face])))
                record.update(zip(AU_PROBABILITY_COLUMNS, (_plain(float(p)) for p in self.au_probs[face])))
                record.update(zip(AU_PRESENCE_COLUMNS, (int(c) if c >= 0 else None for c in presence[face])))
                for key in extra:
                    record[key] = _plain(self.data[key][face])
                yield record

    # ----------------------------------------------------------------- conveniences (see mien.io.writers)
    def to_pandas(self, schema: str = "mien"):
        from mien.io.writers import records_to_pandas

        return records_to_pandas(self.to_records(), self.columns(), schema)

    def to_json(self, path=None, schema: str = "mien", lines: bool = True) -> str | None:
        """JSON lines (one object per row; ``lines=False``: one JSON array); text when ``path`` is None."""
        from mien.io.writers import write_table

        return write_table(self, path, "jsonl" if lines else "json", schema)

    def to_csv(self, path=None, schema: str = "mien") -> str | None:
        from mien.io.writers import write_table

        return write_table(self, path, "csv", schema)

    def to_parquet(self, path, schema: str = "mien") -> None:
        from mien.io.writers import write_table

        write_table(self, path, "parquet", schema)

    def __repr__(self) -> str:
        counts = ", ".join(f"{e}={n}" for e, n in zip(*np.unique(self.expressions, return_counts=True))) if len(self) else ""
        return (f"Result({len(self.frames)} frames, {len(self)} faces, {len(self.errors)} errors"
                + (f"; {counts}" if counts else "") + ")")


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


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
