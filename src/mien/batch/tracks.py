"""One set of track ids per video, however many segments it was cut into.

Each segment after the first starts its analysis ``overlap`` seconds early; its tracks in that warm-up
window are matched to the previous segment's tracks on the same frames by box overlap (IoU summed over
the shared frames, greedy, best pairs first). A matched track keeps the previous segment's id; any other
track gets the next free id in order of first appearance, as a single pass would number it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mien.detect.boxes import iou_matrix

MIN_IOU = 0.3  # boxes on the same frame overlapping less are different faces
MIN_SCORE = 0.5  # summed IoU two tracks need to be called the same face


@dataclass
class SegmentTracks:
    """One segment's faces: ``own`` rows (kept in the output) and ``warmup`` rows (before its start),
    each ``(frame, local track id, x1, y1, x2, y2)``; ``follows`` says the previous segment was run, so the
    two can be matched."""

    own: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))
    warmup: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))
    follows: bool = False


def match_tracks(previous: np.ndarray, warmup: np.ndarray) -> dict[int, int]:
    """``local id -> previous id`` for tracks of ``warmup`` that are the same face as tracks of
    ``previous`` (both ``(frame, track, x1, y1, x2, y2)`` rows)."""
    scores: dict[tuple[int, int], float] = {}
    for frame in np.intersect1d(previous[:, 0], warmup[:, 0]):
        before, after = previous[previous[:, 0] == frame], warmup[warmup[:, 0] == frame]
        overlap = iou_matrix(before[:, 2:6].astype(np.float32), after[:, 2:6].astype(np.float32))
        for i, j in zip(*np.nonzero(overlap >= MIN_IOU)):
            pair = (int(after[j, 1]), int(before[i, 1]))
            scores[pair] = scores.get(pair, 0.0) + float(overlap[i, j])
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (local, earlier), score in sorted(scores.items(), key=lambda item: -item[1]):
        if score >= MIN_SCORE and local not in mapping and earlier not in taken:
            mapping[local] = earlier
            taken.add(earlier)
    return mapping


def first_appearance_order(rows: np.ndarray) -> list[int]:
    """Local track ids in the order they first appear (frame, then id)."""
    first: dict[int, float] = {}
    for frame, track in rows[np.lexsort((rows[:, 1], rows[:, 0]))][:, :2]:
        first.setdefault(int(track), frame)
    return list(first)


def reconcile(segments: list[SegmentTracks]) -> list[dict[int, int]]:
    """Per segment, ``local id -> video-wide id``."""
    mappings: list[dict[int, int]] = []
    next_id = 0
    previous_global = np.zeros((0, 6))
    for segment in segments:
        mapping = match_tracks(previous_global, segment.warmup) if segment.follows else {}
        for local in first_appearance_order(segment.own):
            if local not in mapping:
                mapping[local] = next_id
                next_id += 1
        next_id = max([next_id, *(value + 1 for value in mapping.values())])
        mappings.append(mapping)
        previous_global = segment.own.copy()
        if len(previous_global):
            previous_global[:, 1] = [mapping[int(t)] for t in previous_global[:, 1]]
    return mappings
