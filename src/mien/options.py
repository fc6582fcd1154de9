"""The valid range of every numeric option, checked in one place.

The Python API (:class:`mien.Analyzer`, ``analyze_video``), the command line, the server and
``mien batch`` all call :func:`check_options` with the values they were given, so a value out of range is
refused the same way everywhere, with a message naming the option (its keyword and its command-line
flag) and its valid range. ``None`` means "the default" and is never checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Range:
    """``low``/``high`` bounds (None: unbounded); ``low_open``: the low bound itself is excluded."""

    flag: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} {'above' if self.low_open else 'of at least'} {self.low:g}"
        return kind

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


# keyword -> range; the keyword is the Python API's name, the flag the command line's
RANGES: dict[str, Range] = {
    "score_threshold": Range("--det-threshold", 0, 1, low_open=True),
    "max_size": Range("--det-max-size", 32, integer=True),
    "max_pixels": Range("--max-pixels", 1, integer=True),
    "batch_size": Range("--batch-size", 1, integer=True),
    "threads": Range("--threads", 1, integer=True),
    "every": Range("--every", 1, integer=True),
    "fps": Range("--fps", 0, low_open=True),
    "start": Range("--start", 0),
    "end": Range("--end", 0, low_open=True),
    "detect_every": Range("--detect-every", 1, integer=True),
    "smooth": Range("--smooth", 0),
    "max_missed": Range("--max-missed", 0),
    "max_frames": Range("--max-frames", 1, integer=True),
    "chunk_size": Range("--chunk-size", 1, integer=True),
    "segment_seconds": Range("--segment-seconds", 0, low_open=True),
    "overlap": Range("--overlap", 0),
    "num_workers": Range("--num-workers", 1, integer=True),
    "threads_per_worker": Range("--threads-per-worker", 1, integer=True),
    "max_attempts": Range("--max-attempts", 1, integer=True),
    # mien serve (the keywords are its command line's; mien.serve.limits.Limits holds them under longer names)
    "workers": Range("--workers", 1, integer=True),
    "port": Range("--port", 0, 65535, integer=True),
    "max_image_mb": Range("--max-image-mb", 0, low_open=True),
    "max_video_mb": Range("--max-video-mb", 0, low_open=True),
    "timeout": Range("--timeout", 0, low_open=True),
    "concurrency": Range("--concurrency", 1, integer=True),
    "queue_size": Range("--queue-size", 1, integer=True),
    "keep_uploads": Range("--keep-uploads", 0),
}

# command-line destinations (argparse) whose keyword differs
CLI_NAMES = {"det_threshold": "score_threshold", "det_max_size": "max_size"}


def check_options(*, ceilings: dict[str, float] | None = None, **values: Any) -> None:
    """Raise ValueError for the first value out of its range (keywords of :data:`RANGES`; None is skipped).

    ``ceilings``: tighter upper bounds for some keywords (the server's, per request), named in the message."""
    for name, value in values.items():
        if value is None:
            continue
        allowed = RANGES[name]
        if ceilings and name in ceilings:
            allowed = replace(allowed, high=ceilings[name])
        if not allowed.accepts(value):
            raise ValueError(f"{allowed.flag} ({name}) must be {allowed.describe()}, got {value!r}")
    start, end = values.get("start"), values.get("end")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--end (end) must be after --start (start), got start {start!r} and end {end!r}")


def check_detector_options(options: dict[str, Any] | None) -> None:
    """The numeric detector options (``score_threshold``, ``max_size``) among ``options``."""
    check_options(**{name: value for name, value in (options or {}).items() if name in RANGES})


def check_namespace(args: Any) -> None:
    """The numeric options of a parsed command line (argparse namespace), by their keyword names."""
    values = {CLI_NAMES.get(dest, dest): value for dest, value in vars(args).items()}
    check_options(**{name: value for name, value in values.items() if name in RANGES})
