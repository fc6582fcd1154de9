"""``mien video``: analyse videos into a frame table, a per-track summary, overlays and timeline plots.

The frame table is written frame by frame (flushed, atomic on completion, resumable); an overlay video
and the summary are written as they complete. ``run_videos`` is what the CLI calls; Python users can call
it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from mien.io.writers import TableWriter
from mien.schema import COLUMNS, SUMMARY_COLUMNS, VIDEO_COLUMNS
from mien.video.pipeline import VideoAnalysis, VideoOptions
from mien.video.summary import TrackSummary


@dataclass
class VideoOutputs:
    """Where results go. ``overlay``: an .mp4 path (one input) or a folder (one ``<stem>.mp4`` per input)."""

    table: TableWriter | None = None  # frame rows; None: not written
    rows_callback: Callable | None = None  # called with each frame's records when there is no table
    summary: Path | None = None
    overlay: Path | None = None
    plots: Path | None = None
    anonymize: str | None = None


@dataclass
class VideoReport:
    frames: int = 0
    faces: int = 0
    failed: list[str] = field(default_factory=list)  # errors, one per failed input


def overlay_path(overlay: Path, source: str, single: bool) -> Path:
    if single and overlay.suffix.lower() in (".mp4", ".mov", ".m4v"):
        return overlay
    return overlay / f"{Path(source).stem}.mp4"


def run_videos(analyzer, paths: Sequence[str], options: VideoOptions, outputs: VideoOutputs,
               resume: dict[str, int] | None = None, progress=None, previous_rows=None) -> VideoReport:
    """Analyse ``paths`` one after another; ``resume`` maps inputs to their last complete frame.

    ``previous_rows(path)`` returns the rows already written for a resumed input (to rebuild its summary
    and continue its track ids).
    """
    from mien.video.reader import frame_rate
    from mien.video.writer import VideoWriter
    from mien.viz.draw import draw_faces

    report = VideoReport()
    summaries: list[dict] = []
    resume = resume or {}
    try:
        for path in paths:
            summary = TrackSummary(path, keep_series=outputs.plots is not None)
            first_track_id, after_frame, seed = 0, resume.get(path, -1), []
            if after_frame >= 0 and previous_rows is not None:
                first_track_id, seed = _replay(previous_rows(path), summary, options.max_missed)
            analysis = VideoAnalysis(analyzer, options)
            overlay = None
            if outputs.overlay is not None:
                try:
                    rate = frame_rate(path)
                except Exception:
                    rate = None
                every = options.sampling.every if options.sampling.fps is None else None
                fps = options.sampling.fps or (rate / every if rate and every else 25)
                overlay = VideoWriter(overlay_path(outputs.overlay, path, len(paths) == 1), fps)
            try:
                for result, frame in analysis.frames(path, summary, first_track_id, after_frame, seed):
                    records = list(result.to_records())
                    if outputs.table is not None:
                        outputs.table.write(records)
                    elif outputs.rows_callback is not None:
                        outputs.rows_callback(records)
                    report.frames += 1
                    report.faces += len(result)
                    if result.errors:
                        report.failed.extend(result.errors)
                    if overlay is not None and frame.image is not None:
                        overlay.write(draw_faces(frame.image, result, 0, outputs.anonymize))
                    if progress is not None:
                        progress.update(1)
            finally:
                if overlay is not None:
                    overlay.close(commit=overlay.frames > 0)
                summaries.extend(summary.records())
            if outputs.plots is not None and summary.tracks:
                from mien.viz.timeline import plot_track_timelines

                plot_track_timelines(summary, outputs.plots)
    finally:
        if outputs.summary is not None:
            with TableWriter(outputs.summary, list(SUMMARY_COLUMNS)) as writer:
                writer.write(summaries)
    return report


def _replay(rows, summary: TrackSummary, max_missed: float) -> tuple[int, list]:
    """Feed rows already written for a video into its summary. Returns the next free track id and the
    tracks still alive at the last written frame (to continue tracking them)."""
    import numpy as np

    from mien.schema import EXPRESSION_COLUMNS, SMOOTH_COLUMNS
    from mien.video.pipeline import TrackSeed

    faces = rows[rows["success"] == 1] if len(rows) else rows
    last: dict[int, TrackSeed] = {}
    for _, row in faces.iterrows():
        track = int(row["track_id"])
        smoothed = row[list(SMOOTH_COLUMNS)].to_numpy(float)
        summary.add(np.array([track]), int(row["frame"]), float(row["timestamp"]),
                    row[list(EXPRESSION_COLUMNS)].to_numpy(float)[None], smoothed[None])
        box = np.array([row["face_x"], row["face_y"], row["face_x"] + row["face_width"],
                        row["face_y"] + row["face_height"]], float)
        last[track] = TrackSeed(track, box, float(row["timestamp"]), smoothed)
    end = float(rows["timestamp"].max()) if len(rows) else 0.0
    alive = [seed for seed in last.values() if end - seed.time <= max_missed]
    return (max(last) + 1 if last else 0), alive


def summary_from_table(rows, max_missed: float = 1.0) -> list[dict]:
    """Per-track summary records rebuilt from a whole frame table (pandas), input by input."""
    records: list[dict] = []
    for source in dict.fromkeys(rows["input"].tolist()):
        summary = TrackSummary(source)
        _replay(rows[rows["input"] == source], summary, max_missed)
        records.extend(summary.records())
    return records


def video_columns() -> list[str]:
    return list(COLUMNS) + list(VIDEO_COLUMNS)
