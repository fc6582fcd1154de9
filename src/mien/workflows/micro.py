"""``mien micro``: micro-expression recognition of an onset/apex pair and spotting in long videos, with
their outputs (a JSON prediction, an intervals table, curve plots)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

SPOT_COLUMNS = ["source", "kind", "onset", "apex", "offset", "score", "onset_time", "apex_time", "offset_time"]


def frames_from_video(path: Path, indices: list[int]):
    """The RGB frames at the given 0-based indices, decoded in one pass."""
    from mien.video.reader import read_video

    wanted, found = set(indices), {}
    for frame in read_video(path):
        if frame.image is None:
            break
        if frame.index in wanted:
            found[frame.index] = frame.image
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"{path}: frame(s) {missing} not in the video")
    return [found[i] for i in indices]


def recognize(recognizer, onset: Path | None = None, apex: Path | None = None, video: Path | None = None,
              onset_frame: int | None = None, apex_frame: int | None = None,
              output: Path | None = None) -> dict:
    """Recognise one onset/apex pair (two image files, or two frames of ``video``); the prediction as a
    record (written as JSON to ``output`` when given). Raises ValueError/OSError for an unreadable input."""
    if video is not None:
        onset_image, apex_image = frames_from_video(video, [onset_frame, apex_frame])
        source = f"{video}[{onset_frame}->{apex_frame}]"
        prediction = recognizer.recognize(onset_image, apex_image)
    else:
        source = f"{onset} -> {apex}"
        prediction = recognizer.recognize_files(onset, apex)
    record = {"source": source, **prediction.to_record(),
              "face_box": None if prediction.face_box is None else [round(float(v), 1) for v in prediction.face_box]}
    if output is not None:
        from mien.io.writers import write_atomic

        write_atomic(output, json.dumps(record, indent=2))  # a new temporary file: never through a link
    return record


@dataclass
class SpotReport:
    """Per video: intervals found (``counts``: kind -> number) or the error that stopped it."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def spot_videos(spotter, videos: Sequence[Path], output: Path, plot_dir: Path | None = None,
                on_video: Callable[[Path, object], None] | None = None) -> SpotReport:
    """Spot intervals in each video into the table ``output`` (``SPOT_COLUMNS``) and, with ``plot_dir``,
    a ``<video>_spotting.png`` curve plot each. A video that cannot be read is recorded in ``failed``."""
    from mien.io.writers import TableWriter

    report = SpotReport()
    with TableWriter(output, SPOT_COLUMNS) as writer:
        for video in videos:
            try:
                result = spotter.spot_video(video)
            except (ValueError, OSError) as error:
                report.failed[str(video)] = str(error)
                if on_video is not None:
                    on_video(video, error)
                continue
            writer.write(result.to_records())
            report.frames[str(video)] = result.frames
            report.counts[str(video)] = {k: sum(i.kind == k for i in result.intervals) for k in ("micro", "macro")}
            if on_video is not None:
                on_video(video, result)
            if plot_dir is not None:
                from mien.workflows.plots import plot_spotting

                plot_dir.mkdir(parents=True, exist_ok=True)
                plot_spotting(result, plot_dir / f"{Path(video).stem}_spotting.png")
    return report
