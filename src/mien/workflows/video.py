"""``mien video``: analyse videos into a frame table, a per-track summary, overlays and timeline plots.

The frame table is written frame by frame (flushed; atomic on completion; resumable), an overlay video
per input as it is analysed, and the summary at the end (also after an interruption). ``run_videos`` is
what the CLI calls; Python users can call it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from mien.io.writers import TableWriter, format_for, part_path, prepare_resume, stored_name
from mien.schema import (AU_INTENSITY_COLUMNS, AU_PROBABILITY_COLUMNS, COLUMNS, EXPRESSION_COLUMNS, SMOOTH_COLUMNS,
                         SUMMARY_COLUMNS, VIDEO_COLUMNS)
from mien.config import VideoOptions
from mien.video.pipeline import TrackSeed, VideoAnalysis
from mien.video.summary import TrackSummary


def video_columns(analyzer=None) -> list[str]:
    """Columns of a video frame table: the image columns (``analyzer.columns``: with its optional ones),
    then the video ones (see mien.schema)."""
    return list(analyzer.columns if analyzer is not None else COLUMNS) + list(VIDEO_COLUMNS)


@dataclass
class VideoOutputs:
    """Where results go. ``overlay``: an .mp4 path (one input) or a folder (one .mp4 per input)."""

    table: TableWriter | None = None  # frame rows; None: not written
    rows_callback: Callable | None = None  # called with each frame's records when there is no table
    summary: Path | None = None
    overlay: Path | None = None
    plots: Path | None = None
    anonymize: str | None = None


@dataclass
class ResumePlan:
    """What an interrupted run left: inputs finished, and the one it was in the middle of."""

    table: Path | None = None
    format: str = "csv"
    finished: list[str] = field(default_factory=list)
    unfinished: dict[str, int] = field(default_factory=dict)  # input -> last complete frame
    formula_guard: bool = True  # how the CSV table's text was written
    part: Path | None = None  # where the rows are while a resumed run appends (default: "<table>.part")

    def rows(self, source: str | None = None, chunk: int = 20_000) -> Iterator:
        """The rows already written (pandas chunks), optionally of one input only."""
        import pandas as pd

        if self.table is None:
            return
        # While a resumed run appends, the rows live in "<table>.part" (flushed after every frame).
        part = self.part or part_path(self.table)
        location = part if part.exists() else self.table
        if not location.exists():
            return
        if self.format == "csv":
            chunks = pd.read_csv(location, chunksize=chunk, keep_default_na=False, na_values=[""])
        else:
            chunks = pd.read_json(location, lines=True, chunksize=chunk)
        stored = None if source is None else stored_name(source, self.format, self.formula_guard)
        for rows in chunks:
            yield rows if stored is None else rows[rows["input"] == stored]


def plan_resume(output: Path, fmt: str | None, schema: str = "mien", formula_guard: bool = True) -> ResumePlan:
    """Prepare ``output`` to be continued (see :func:`mien.io.writers.prepare_resume`)."""
    if schema != "mien":
        raise ValueError("--resume needs the default column names (--schema mien)")
    fmt = format_for(output, fmt)
    done = prepare_resume(output, fmt, formula_guard)
    names = list(done)  # inputs are analysed one after another: only the last can be unfinished
    return ResumePlan(Path(output), fmt, names[:-1], {name: done[name] for name in names[-1:]}, formula_guard)


@dataclass
class VideoReport:
    frames: int = 0
    faces: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # input -> first error


def output_stems(paths: Sequence[str]) -> dict[str, str]:
    """A distinct file stem per input (its path relative to the inputs' common folder, without suffix),
    so ``a/clip.mp4`` and ``b/clip.mp4`` never overwrite each other's overlay or plots."""
    from mien.workflows.overlays import OVERLAY_INFIX, overlay_names

    names = overlay_names(list(paths))  # "<relative path>.overlay.jpg" for a video
    return {path: str(Path(name.removesuffix(OVERLAY_INFIX + ".jpg")).with_suffix("")) for path, name in names.items()}


def overlay_target(overlay: Path, path: str, paths: Sequence[str], stem: str) -> Path:
    """The overlay video of ``path``: ``overlay`` itself when it names an .mp4 and there is one input, else
    ``<overlay>/<stem>.overlay.mp4``. Never an input (ValueError)."""
    single = len(paths) == 1 and overlay.suffix.lower() in (".mp4", ".mov", ".m4v")
    target = overlay if single else overlay / f"{stem}.overlay.mp4"
    if os.path.realpath(target) in {os.path.realpath(p) for p in paths}:
        raise ValueError(f"overlay {target} would replace an input: choose another destination")
    return target


def run_videos(analyzer, paths: Sequence[str], options: VideoOptions, outputs: VideoOutputs,
               resume: ResumePlan | None = None, progress=None) -> VideoReport:
    """Analyse ``paths`` one after another, skipping or continuing what ``resume`` says is done."""
    from mien.workflows.video_writer import VideoWriter
    from mien.viz.draw import draw_faces

    if outputs.plots is not None:
        from mien.viz.timeline import check_plotting

        check_plotting()  # fail before hours of work, not after
    resume = resume or ResumePlan()
    stems = output_stems(list(paths))
    report = VideoReport()
    summaries: dict[str, TrackSummary] = {}
    todo = [p for p in paths if p not in resume.finished]
    targets = ({path: overlay_target(outputs.overlay, path, paths, stems[path]) for path in todo}
               if outputs.overlay is not None else {})  # all checked before the first frame
    try:
        for path in todo:
            summary = summaries[path] = TrackSummary(path, keep_series=outputs.plots is not None)
            after_frame = resume.unfinished.get(path, -1)
            first_track_id, seed = (replay(resume.rows(path), summary, options.max_missed) if after_frame >= 0
                                    else (0, []))
            overlay, au_thresholds = None, None
            if path in targets:
                overlay = VideoWriter(targets[path], options.sampling.fps or 25)
            try:
                for result, frame in VideoAnalysis(analyzer, options).frames(path, summary, first_track_id,
                                                                             after_frame, seed):
                    records = list(result.to_records())
                    au_thresholds = result.metadata.get("au_thresholds", au_thresholds)
                    if outputs.table is not None:
                        outputs.table.write(records)
                    elif outputs.rows_callback is not None:
                        outputs.rows_callback(records)
                    report.frames += 1
                    report.faces += len(result)
                    for message in result.errors:
                        report.failed.setdefault(path, message)
                    if overlay is not None and frame.image is not None:
                        overlay.write(draw_faces(frame.image, result, 0, outputs.anonymize), frame.timestamp)
                    if progress is not None:
                        progress.update(1)
            finally:
                if overlay is not None:
                    overlay.close(commit=overlay.frames > 0)
            if outputs.plots is not None and summary.tracks:
                from mien.workflows.plots import plot_track_figures
                from mien.workflows.plots import plot_track_timelines

                plot_track_timelines(summary, outputs.plots, stem=stems[path])
                plot_track_figures(summary, outputs.plots, stem=stems[path], thresholds=au_thresholds)
    finally:
        if outputs.summary is not None:
            write_summary(outputs.summary, paths, summaries, resume, options.max_missed)
    return report


def write_summary(target: Path, paths: Sequence[str], summaries: dict[str, TrackSummary], resume: ResumePlan,
                  max_missed: float) -> None:
    """Summary rows of every input, in input order: finished ones rebuilt from the table."""
    records: list[dict] = []
    for path in paths:
        if path in summaries:
            records.extend(summaries[path].records())
        elif path in resume.finished:
            rebuilt = TrackSummary(path)
            replay(resume.rows(path), rebuilt, max_missed)
            records.extend(rebuilt.records())
    with TableWriter(target, list(SUMMARY_COLUMNS)) as writer:
        writer.write(records)


def replay(chunks, summary: TrackSummary, max_missed: float) -> tuple[int, list[TrackSeed]]:
    """Feed rows already written for one video (pandas chunks) into its summary. Returns the next free
    track id and the tracks alive at the last written frame (to continue tracking them)."""
    last: dict[int, TrackSeed] = {}
    end = 0.0
    for rows in chunks:
        if not len(rows):
            continue
        end = max(end, float(rows["timestamp"].max()))
        faces = rows[rows["success"] == 1]
        if not len(faces):
            continue
        tracks = faces["track_id"].to_numpy(int)
        raw = faces[list(EXPRESSION_COLUMNS)].to_numpy(float)
        smoothed = faces[list(SMOOTH_COLUMNS)].to_numpy(float)
        affect = affect_columns(faces)
        # copy: with pandas copy-on-write the array can be a read-only view (JSON-lines tables)
        boxes = faces[["face_x", "face_y", "face_width", "face_height"]].to_numpy(float, copy=True)
        boxes[:, 2:] += boxes[:, :2]
        for i, (track, frame, time) in enumerate(zip(tracks, faces["frame"].to_numpy(int),
                                                     faces["timestamp"].to_numpy(float))):
            summary.add(np.array([track]), int(frame), float(time), raw[i:i + 1], smoothed[i:i + 1],
                        **{name: values[i:i + 1] for name, values in affect.items()})
            last[int(track)] = TrackSeed(int(track), boxes[i], float(time), smoothed[i])
    alive = [seed for seed in last.values() if end - seed.time <= max_missed]
    return (max(last) + 1 if last else 0), alive


def affect_columns(faces) -> dict[str, np.ndarray]:
    """The AU probabilities, valence, arousal and AU intensities (``AUxx_r``) of rows already written (those
    the table has), as ``TrackSummary.add`` keywords: resumed plots keep the series of the frames before the
    interruption."""
    wanted = {"au_probs": list(AU_PROBABILITY_COLUMNS), "valence": ["valence"], "arousal": ["arousal"],
              "au_intensity": list(AU_INTENSITY_COLUMNS)}
    return {name: faces[columns].to_numpy(float) for name, columns in wanted.items() if set(columns) <= set(faces)}
