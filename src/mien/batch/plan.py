"""Cutting a corpus into units of work, and keeping that cut stable across reruns.

A *unit* is either a chunk of up to ``chunk_size`` images of one folder, or one time segment
``[start, end)`` of a video. Images are grouped by their folder and each video is its own group; a group
is one partition of the output (``parts/input_id=<id>/``). The plan is stored in ``plan.json`` on the
first run; a rerun reuses it (so unit keys, and therefore the commit log, stay valid) and only appends
units for files it did not know.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from mien.config import WHOLE_IMAGE, AnalyzerConfig, VideoOptions
from mien.io.writers import write_atomic

PLAN_VERSION = 2  # 1: mien 0.1's flat options (still read)


@dataclass(frozen=True)
class BatchOptions:
    """What is computed, and how the corpus is cut. Stored with the plan: a rerun must use the same.

    ``analysis``: what every worker's analyzer computes (:class:`~mien.config.AnalyzerConfig`; its
    ``threads`` are set per worker by ``EngineSettings.threads``); models are named (a registered name or
    an ONNX path), since the plan is stored as JSON and every worker builds its own.
    ``video``: how videos are sampled, tracked and smoothed (:class:`~mien.config.VideoOptions`; ``start``
    and ``end`` are the segments', so they stay at their defaults).
    Cutting: ``chunk_size`` images per unit; videos in segments of ``segment_seconds``; each segment
    after the first also analyses the ``overlap`` seconds before its start (rows not kept) so that its
    tracks and smoothing are warmed up and its track ids can be matched to the previous segment's.
    """

    analysis: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    video: VideoOptions = field(default_factory=VideoOptions)
    chunk_size: int = 64
    segment_seconds: float = 30.0
    overlap: float = 1.0

    def __post_init__(self) -> None:
        from mien.options import check_options

        check_options(chunk_size=self.chunk_size, segment_seconds=self.segment_seconds, overlap=self.overlap)
        if not 0 <= self.overlap < self.segment_seconds:
            raise ValueError(f"overlap ({self.overlap:g} s) must be at least 0 and shorter than a segment "
                             f"({self.segment_seconds:g} s): lower --overlap or raise --segment-seconds")
        for name in ("detector", "expression"):
            if not isinstance(getattr(self.analysis, name), (str, Path)):
                raise ValueError(f"mien batch needs the {name} by name or path (each worker loads its own), "
                                 f"got {type(getattr(self.analysis, name)).__name__}")
        if isinstance(self.analysis.expression, Path):  # stored as text: a rerun must compare equal
            object.__setattr__(self, "analysis", self.analysis.replace(expression=str(self.analysis.expression)))
        whole_video = VideoOptions()
        if (self.video.start, self.video.end) != (whole_video.start, whole_video.end):
            raise ValueError("mien batch cuts each video into segments itself: leave video.start and video.end unset")

    @classmethod
    def from_options(cls, **values: Any) -> "BatchOptions":
        """Options from flat keywords (``AnalyzerConfig``, ``VideoOptions`` and cutting fields; None: default)."""
        analysis = {name: values.pop(name) for name in list(values) if name in _ANALYZER_FIELDS}
        video = {name: values.pop(name) for name in list(values) if name in _VIDEO_FIELDS}
        return cls(AnalyzerConfig.from_options(**analysis), VideoOptions.from_options(**video),
                   **{name: value for name, value in values.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BatchOptions":
        values = dict(values)
        return cls(AnalyzerConfig(**values.pop("analysis")), VideoOptions(**values.pop("video")), **values)

    def differences(self, other: "BatchOptions") -> list[str]:
        """``name=value`` (this one's value) for every option that differs from ``other``'s."""
        mine, theirs = _flat(self.to_dict()), _flat(other.to_dict())
        return [f"{name}={value!r}" for name, value in mine.items() if theirs.get(name) != value]


_ANALYZER_FIELDS = {f.name for f in fields(AnalyzerConfig)}
_VIDEO_FIELDS = {f.name for f in fields(VideoOptions)}


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for name, value in values.items():
        if name in ("analysis", "video"):
            flat.update(value)
        else:
            flat[name] = value
    return flat


def _options_v1(values: dict[str, Any]) -> BatchOptions:
    """The options of a plan written by mien 0.1 (flat keywords, ``whole_image`` as a flag)."""
    values = dict(values)
    if values.pop("whole_image", False):
        values["detector"] = WHOLE_IMAGE
    return BatchOptions.from_options(**values)


@dataclass(frozen=True)
class Unit:
    """One task. ``key`` (``<partition>/unit-<index>``) names it in the commit log and its part file.

    Videos: rows of ``[start, end)`` seconds are kept (``end`` None: to the end of the video); the
    analysis begins ``warmup`` seconds earlier. ``segments`` is the number of segments of the video.
    """

    partition: str
    index: int
    kind: str  # "images" or "video"
    paths: tuple[str, ...]
    start: float = 0.0
    end: float | None = None
    warmup: float = 0.0
    segments: int = 1

    @property
    def key(self) -> str:
        return f"{self.partition}/unit-{self.index:05d}"

    @property
    def part_file(self) -> str:
        """Path of the unit's Parquet file relative to the output folder."""
        return f"parts/input_id={self.partition}/unit-{self.index:05d}.parquet"

    def describe(self) -> str:
        if self.kind == "video":
            end = "end" if self.end is None else f"{self.end:g} s"
            return f"{self.paths[0]} [{self.start:g} s, {end})"
        return f"{len(self.paths)} images of {Path(self.paths[0]).parent}"


def partition_id(path: str) -> str:
    """A readable, filesystem-safe and unique name for a folder or video: its name plus a path hash."""
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name or "root")[:60]
    return f"{name}-{digest}"


def is_video(path: str) -> bool:
    from mien.video.reader import VIDEO_EXTENSIONS

    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def expand_corpus(inputs: Sequence[str | Path]) -> list[str]:
    """Files, folders (recursive: images and videos) and globs as absolute paths, in a stable order.
    Paths that do not exist are kept: they become failed inputs naming the reason."""
    from mien.io.sources import IMAGE_EXTENSIONS, expand_inputs
    from mien.video.reader import VIDEO_EXTENSIONS

    found = expand_inputs(list(inputs), IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    return list(dict.fromkeys(os.path.abspath(path) for path in found))


def video_duration(path: str, max_pixels: int | None = None) -> float:
    """Seconds the header announces, 0 when it cannot be read or its frames are above ``max_pixels``
    (the video is then one unit, which records the reason once)."""
    from mien.video.reader import probe

    try:
        return probe(path, AnalyzerConfig().max_pixels if max_pixels is None else max_pixels).duration
    except Exception:  # any unreadable video: its single unit records the reason
        return 0.0


def video_units(path: str, options: BatchOptions, duration: float) -> list[Unit]:
    count = max(1, math.ceil(duration / options.segment_seconds - 1e-9)) if duration > 0 else 1
    units = []
    for index in range(count):
        start = index * options.segment_seconds
        end = None if index == count - 1 else (index + 1) * options.segment_seconds
        warmup = min(options.overlap, start)
        units.append(Unit(partition_id(path), index, "video", (path,), start, end, warmup, count))
    return units


def image_units(paths: Sequence[str], options: BatchOptions, first_index: dict[str, int]) -> list[Unit]:
    """Chunks of images per folder; ``first_index`` gives each folder's next free unit index."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(str(Path(path).parent), []).append(path)
    units = []
    for folder, files in by_folder.items():
        partition = partition_id(folder)
        start = first_index.get(partition, 0)
        for offset in range(0, len(files), options.chunk_size):
            chunk = tuple(files[offset:offset + options.chunk_size])
            units.append(Unit(partition, start + offset // options.chunk_size, "images", chunk))
    return units


@dataclass
class Plan:
    options: BatchOptions
    units: list[Unit]

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(path for unit in self.units for path in unit.paths))

    def extend(self, paths: Sequence[str]) -> int:
        """Add units for ``paths`` not yet planned; returns how many units were added."""
        known = set(self.paths)
        new = [path for path in paths if path not in known]
        next_index: dict[str, int] = {}
        for unit in self.units:
            next_index[unit.partition] = max(next_index.get(unit.partition, 0), unit.index + 1)
        added = image_units([p for p in new if not is_video(p)], self.options, next_index)
        for path in (p for p in new if is_video(p)):
            added += video_units(path, self.options, video_duration(path, self.options.analysis.max_pixels))
        self.units += added
        return len(added)

    def to_json(self) -> str:
        return json.dumps({"version": PLAN_VERSION, "options": self.options.to_dict(),
                           "units": [asdict(unit) for unit in self.units]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        data = json.loads(text)
        version = data.get("version")
        if version not in (1, PLAN_VERSION):
            raise ValueError(f"plan version {version} is not {PLAN_VERSION} (written by another mien): "
                             "give a new --output")
        units = [Unit(**{**unit, "paths": tuple(unit["paths"])}) for unit in data["units"]]
        options = _options_v1(data["options"]) if version == 1 else BatchOptions.from_dict(data["options"])
        return cls(options, units)


def check_batch_output(output: Path) -> None:
    """Refuse an ``output`` that is a file, or a folder with other content and no ``plan.json`` (not a mien
    batch output): mien writes nothing there, not even its lock file."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output} is a file: a batch writes into a folder")
    if (output.is_dir() and not (output / "plan.json").exists()
            and any(p.name != ".lock" for p in output.iterdir())):
        raise ValueError(f"{output} is not empty and holds no plan.json: not a mien batch output")


def load_or_create_plan(output: Path, inputs: Sequence[str | Path], options: BatchOptions) -> Plan:
    """The job's plan: created (and stored atomically) on the first run, reused and extended after."""
    path = output / "plan.json"
    if path.exists():
        plan = Plan.from_json(path.read_text(encoding="utf-8"))
        if plan.options != options:
            differences = ", ".join(plan.options.differences(options))
            raise ValueError(f"{output} was written with other options ({differences}); rerun with those, "
                             "or give a new --output")
    else:
        check_batch_output(output)
        plan = Plan(options, [])
    if plan.extend(expand_corpus(inputs)) or not path.exists():
        output.mkdir(parents=True, exist_ok=True)
        write_atomic(path, plan.to_json())  # JSON escapes keep file names that are not UTF-8 exact
    return plan
