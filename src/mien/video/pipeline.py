"""Video analysis: decode -> detect (every k frames; tracked faces re-found in between) -> align -> heads
-> track -> smooth, one frame at a time.

Nothing accumulates per frame except what the caller keeps of the yielded rows: memory stays flat on
videos of any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mien.config import VideoOptions
from mien.detect.base import Detections, supports_regions
from mien.detect.boxes import iou_matrix, nms
from mien.io.images import DEFAULT_MAX_PIXELS, Frame
from mien.result import Result
from mien.schema import COLUMNS, EXPRESSIONS, SMOOTH_COLUMNS, VIDEO_COLUMNS
from mien.video.reader import read_video
from mien.video.smoothing import ExponentialSmoother, SignalSmoother, smooth_face_signals
from mien.video.summary import TrackSummary
from mien.video.tracker import IouTracker

REGION_SCALE = 2.0  # a tracked face is searched for in a square this many box sizes wide
REGION_DETECTION_SIZE = 256  # the region is resized to this (long side): the face is then ~128 px, where
# landmarks agree with full-frame detection within 1% of the eye distance (smaller sizes: 4-9%)


@dataclass
class TrackSeed:
    """A track's last known state, to continue tracking where an interrupted run stopped."""

    track_id: int
    box: np.ndarray  # (4,) x1 y1 x2 y2
    time: float
    smoothed: np.ndarray  # (8,)


def _square_region(box: np.ndarray, scale: float, height: int, width: int) -> tuple[int, int, int, int]:
    centre = (box[:2] + box[2:]) / 2
    half = scale * max(box[2] - box[0], box[3] - box[1]) / 2
    x0, y0 = np.floor(np.maximum(centre - half, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(centre + half, [width, height])).astype(int)
    return x0, y0, x1, y1


class VideoAnalysis:
    """Runs an :class:`~mien.analyzer.Analyzer`'s models over one video; see :meth:`frames`."""

    def __init__(self, analyzer, options: VideoOptions = VideoOptions()) -> None:
        self.analyzer = analyzer
        self.options = options
        self.regional = supports_regions(analyzer.detector)

    def frames(self, path: str | Path, summary: TrackSummary | None = None, first_track_id: int = 0,
               after_frame: int = -1, seed: list[TrackSeed] = ()) -> Iterator[tuple[Result, Frame]]:
        """One ``(Result, Frame)`` per analysed frame, with ``track_id`` and smoothed probabilities in
        ``Result.data`` and the tracked faces the detector missed in ``Result.frames.data["missed_boxes"]``
        ((K, 4) predicted boxes per frame). Frames without faces (and a decoding error, if any) still yield a Result.
        Frames up to ``after_frame`` are skipped by the reader (resuming); ``seed`` restores the tracks
        last seen before that point, and new tracks start at ``first_track_id``."""
        frames = read_video(path, self.options.sampling, after_frame=after_frame,
                            max_pixels=getattr(self.analyzer, "max_pixels", DEFAULT_MAX_PIXELS))
        return self.process(frames, summary, first_track_id, seed=seed)

    def process(self, frames: Iterable[Frame], summary: TrackSummary | None = None, first_track_id: int = 0,
                seed: list[TrackSeed] = ()) -> Iterator[tuple[Result, Frame]]:
        """:meth:`frames` for any source of frames (a camera, a stream): see there."""
        tracker = IouTracker(max_missed_seconds=self.options.max_missed)
        smoother = ExponentialSmoother(self.options.smooth)
        signals = SignalSmoother(self.options.smooth) if getattr(self.analyzer, "uses_mesh", False) else None
        baseline = None
        if getattr(self.analyzer, "au_model", None) is not None:
            from mien.tasks.aus import NeutralBaseline

            model = self.analyzer.au_model
            baseline = NeutralBaseline(model.neutral_features, model.neutral_spread)
        tracker.restore(((track.track_id, track.box, track.time) for track in seed), first_track_id)
        for track in seed:
            smoother.seed(track.track_id, track.time, track.smoothed)
        count = -1
        for frame in frames:
            count += 1
            if frame.image is None:
                yield self.analyzer.classify([self.analyzer.prepare(frame)]), frame
                continue
            full = count % self.options.detect_every == 0 or not tracker.live_ids() or not self.regional
            detections = self.analyzer.detect(frame.image) if full else self._redetect(frame, tracker)
            result = self.analyzer.classify([self.analyzer.prepare(frame, detections)])
            track_ids = tracker.update(result.boxes, frame.timestamp)
            # faces the detector missed this frame: overlays that anonymise must cover these too
            missed = tracker.unmatched_predictions(frame.timestamp, track_ids)
            result.frames.data["missed_boxes"] = [missed]
            smoothed = smoother.update(track_ids, frame.timestamp, result.expression_probs)
            live = tracker.live_ids()
            smoother.forget(live)
            if baseline is not None and result.au_features.shape[1]:  # the person's own neutral
                neutral = result.expression_probs.argmax(axis=1) == EXPRESSIONS.index("neutral")
                self.analyzer.apply_mesh_aus(result, baseline.update(track_ids, result.au_features, neutral))
                baseline.forget(live)
            if signals is not None:
                smooth_face_signals(signals, result, track_ids, frame.timestamp)
                signals.forget(live)
            result.data["track_id"] = track_ids
            result.data["expression_smooth"] = np.array([EXPRESSIONS[i] for i in smoothed.argmax(1)], dtype=object)
            for column, values in zip(SMOOTH_COLUMNS, smoothed.T):
                result.data[column] = values
            if summary is not None:
                summary.add(track_ids, frame.index, frame.timestamp, result.expression_probs, smoothed,
                            au_probs=result.au_probs, valence=result.valence, arousal=result.arousal,
                            au_intensity=result.au_intensity)
            yield result, frame

    def _redetect(self, frame: Frame, tracker: IouTracker) -> Detections:
        """Find each tracked face again inside a small region around its predicted box."""
        image = frame.image
        height, width = image.shape[:2]
        _, predicted = tracker.predicted_boxes(frame.timestamp)
        found = []
        for box in predicted:
            x0, y0, x1, y1 = _square_region(box, REGION_SCALE, height, width)
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            region = self.analyzer.detect_region(image[y0:y1, x0:x1], REGION_DETECTION_SIZE)
            if not len(region):
                continue
            offset = np.array([x0, y0], np.float32)
            region.boxes += np.tile(offset, 2)
            region.landmarks += offset
            overlap = iou_matrix(box[None].astype(np.float32), region.boxes)[0]
            centres = (region.boxes[:, :2] + region.boxes[:, 2:]) / 2
            inside = np.all((centres >= box[:2]) & (centres <= box[2:]), axis=1)
            plausible = np.flatnonzero((overlap > 0.1) | inside)  # never take over a neighbour's face
            if not plausible.size:
                continue
            best = plausible[int(np.argmax(overlap[plausible] + region.scores[plausible]))]
            found.append(region[[best]])
        if not found:
            return Detections.empty()
        merged = Detections(np.concatenate([d.boxes for d in found]), np.concatenate([d.scores for d in found]),
                            np.concatenate([d.landmarks for d in found]))
        return merged[nms(merged.boxes, merged.scores, 0.5)]  # two tracks may have found the same face


class VideoStream:
    """The result of ``Analyzer.analyze_video``: iterate it once for per-frame results as they are
    computed (flat memory), or call :meth:`to_pandas` to collect the table. After iteration,
    :meth:`summary` gives the per-track summary and :attr:`track_summary` the
    :class:`~mien.video.summary.TrackSummary` it comes from (with per-frame series for the track figures
    when ``keep_series``)."""

    def __init__(self, analyzer, path: str | Path, options: VideoOptions, keep_series: bool = False) -> None:
        self.path = str(path)
        self.analysis = VideoAnalysis(analyzer, options)
        self.track_summary = TrackSummary(self.path, keep_series=keep_series)
        self._consumed = False

    @property
    def columns(self) -> list[str]:
        """The analyzer's columns (with its landmark/mesh columns, if any), then the video columns."""
        return list(getattr(self.analysis.analyzer, "columns", COLUMNS)) + list(VIDEO_COLUMNS)

    def __iter__(self) -> Iterator[Result]:
        for result, _ in self.frames():
            yield result

    def frames(self) -> Iterator[tuple[Result, Frame]]:
        """Like iterating, with each decoded frame (for drawing)."""
        if self._consumed:
            raise RuntimeError(f"{self.path}: a video stream can be iterated once; call analyze_video again")
        self._consumed = True
        yield from self.analysis.frames(self.path, self.track_summary)

    def to_pandas(self, schema: str = "mien"):
        """All frames' rows as a DataFrame (iterates the video if it was not iterated yet)."""
        from mien.tables import records_to_pandas

        records = [record for result in self for record in result.to_records()]
        return records_to_pandas(records, self.columns, schema)

    def summary(self):
        """Per-track summary (pandas) of the frames iterated so far; columns in ``schema.SUMMARY_COLUMNS``."""
        import pandas as pd

        from mien.schema import SUMMARY_COLUMNS

        return pd.DataFrame(self.track_summary.records(), columns=list(SUMMARY_COLUMNS))
