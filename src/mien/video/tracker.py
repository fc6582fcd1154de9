"""Face identities across frames: IoU association with constant-velocity prediction.

Each detection is matched to the track whose predicted box overlaps it most (greedy, highest IoU first,
above ``iou_threshold``). A track missed by the detector stays live for ``max_missed_seconds``; after
that it is kept as *lost* for ``reentry_seconds``, and a face that appears near where a live-but-missed
or lost track was last seen (within ``reentry_distance`` box sizes, similar size) gets that id back,
closest pairs first. Track ids are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from mien.detect.boxes import iou_matrix


@dataclass
class Track:
    track_id: int
    box: np.ndarray  # (4,) x1 y1 x2 y2 at ``last_time``
    last_time: float  # seconds
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float64))  # pixels per second
    hits: int = 1

    def predict(self, time: float) -> np.ndarray:
        return self.box + self.velocity * (time - self.last_time)

    @property
    def size(self) -> float:
        return float(np.sqrt(max(1.0, (self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))))


class IouTracker:
    """Assigns a stable ``track_id`` to each face box, frame after frame.

    Args:
        iou_threshold: minimum IoU between a predicted track box and a detection to match them.
        max_missed_seconds: how long a track survives without detections.
        reentry_distance: a lost track is re-found by a detection whose centre is within this many box
            sizes of the track's last centre and whose size is within a factor of 2.
        velocity_smoothing: weight of the newest velocity measurement (0..1).
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed_seconds: float = 1.0, reentry_distance: float = 1.0,
                 reentry_seconds: float = 5.0, velocity_smoothing: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed_seconds = max_missed_seconds
        self.reentry_distance = reentry_distance
        self.reentry_seconds = max(reentry_seconds, max_missed_seconds)
        self.velocity_smoothing = velocity_smoothing
        self.tracks: list[Track] = []  # live: matched by overlap with their predicted box
        self.lost: list[Track] = []  # missed for longer: matched only by re-entry
        self.next_id = 0

    def restore(self, tracks: Iterable[tuple[int, np.ndarray, float]], next_id: int = 0) -> None:
        """Continue from tracks last seen before a cut (resuming an interrupted run).

        ``tracks``: ``(track_id, box (4,) x1 y1 x2 y2 pixels, time seconds)`` each; they become live again,
        at rest (zero velocity). New tracks then start at ``next_id`` or after the largest restored id,
        whichever is higher. Raises ValueError for an id already in use.
        """
        in_use = {t.track_id for t in self.tracks + self.lost}
        for track_id, box, time in tracks:
            if track_id in in_use:
                raise ValueError(f"track {track_id} is already in use; cannot restore it")
            in_use.add(track_id)
            self.tracks.append(Track(int(track_id), np.array(box, np.float64).reshape(4), float(time)))
        self.next_id = max([self.next_id, next_id] + [track_id + 1 for track_id in in_use])

    def live_ids(self) -> set[int]:
        """Ids of the live tracks (matched by overlap; lost tracks excluded)."""
        return {t.track_id for t in self.tracks}

    def predicted_boxes(self, time: float) -> tuple[list[int], np.ndarray]:
        """Ids and predicted boxes (K, 4) of the live tracks at ``time``."""
        return [t.track_id for t in self.tracks], np.array([t.predict(time) for t in self.tracks]).reshape(-1, 4)

    def update(self, boxes: np.ndarray, time: float) -> np.ndarray:
        """Track ids (N,) for the detections ``boxes`` (N, 4) seen at ``time`` seconds."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        expired = [t for t in self.tracks if time - t.last_time > self.max_missed_seconds]
        self.tracks = [t for t in self.tracks if time - t.last_time <= self.max_missed_seconds]
        self.lost = [t for t in self.lost + expired if time - t.last_time <= self.reentry_seconds]
        ids = np.full(len(boxes), -1, np.int64)
        matched: set[int] = set()
        if self.tracks and len(boxes):
            predicted = np.array([t.predict(time) for t in self.tracks])
            for track_index, box_index in self._greedy(iou_matrix(predicted, boxes), self.iou_threshold):
                ids[box_index] = self._extend(self.tracks[track_index], boxes[box_index], time)
                matched.add(self.tracks[track_index].track_id)
        unmatched = np.flatnonzero(ids < 0)
        candidates = [t for t in self.tracks if t.track_id not in matched] + self.lost
        for track, box_index in self._reentries(candidates, boxes[unmatched]):
            ids[unmatched[box_index]] = self._extend(track, boxes[unmatched[box_index]], time)
            if track in self.lost:
                self.lost.remove(track)
                self.tracks.append(track)
        for box_index in np.flatnonzero(ids < 0):
            ids[box_index] = self._start(boxes[box_index], time)
        return ids

    def unmatched_predictions(self, time: float, matched_ids: np.ndarray) -> np.ndarray:
        """Predicted boxes (K, 4) of live tracks not matched at ``time`` (faces the detector just missed)."""
        missing = [t.predict(time) for t in self.tracks if t.track_id not in set(matched_ids.tolist())]
        return np.array(missing, np.float32).reshape(-1, 4)

    @staticmethod
    def _greedy(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
        pairs = []
        scores = scores.copy()
        while scores.size and scores.max() >= threshold:
            row, column = np.unravel_index(np.argmax(scores), scores.shape)
            pairs.append((int(row), int(column)))
            scores[row, :] = -1
            scores[:, column] = -1
        return pairs

    def _reentries(self, candidates: list[Track], boxes: np.ndarray) -> list[tuple[Track, int]]:
        """Pairs (track, box index) of faces reappearing near a missed or lost track, closest first."""
        pairs = []
        for track in candidates:
            for index, box in enumerate(boxes):
                centre = (box[:2] + box[2:]) / 2
                size = float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1]))))
                distance = np.linalg.norm(centre - (track.box[:2] + track.box[2:]) / 2) / track.size
                if distance <= self.reentry_distance and 0.5 <= size / track.size <= 2.0:
                    pairs.append((distance, track.track_id, index, track))
        chosen, used_tracks, used_boxes = [], set(), set()
        for _, track_id, index, track in sorted(pairs, key=lambda p: (p[0], p[1], p[2])):
            if track_id not in used_tracks and index not in used_boxes:
                chosen.append((track, index))
                used_tracks.add(track_id)
                used_boxes.add(index)
        return chosen

    def _extend(self, track: Track, box: np.ndarray, time: float) -> int:
        elapsed = time - track.last_time
        if elapsed > 0:
            measured = (box - track.box) / elapsed
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = a * measured + (1 - a) * track.velocity
        track.box, track.last_time = box.copy(), time
        track.hits += 1
        return track.track_id

    def _start(self, box: np.ndarray, time: float) -> int:
        track = Track(self.next_id, box.copy(), time)
        self.tracks.append(track)
        self.next_id += 1
        return track.track_id
