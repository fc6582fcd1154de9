"""What every verb of the ``mien`` command shares: exit codes, the analyzer and video option groups (built
from :class:`~mien.config.AnalyzerConfig` and :class:`~mien.config.VideoOptions`, every flag defaulting to
None so the defaults stay in ``mien.config``), the row sink, progress and the overlay guard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from mien.config import AnalyzerConfig, VideoOptions

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(ValueError):
    """A wrong option value: reported with the flag's name, exit 2."""


def _default(name: str, cls: str = "analyzer") -> Any:
    from mien.config import AnalyzerConfig, VideoOptions

    return getattr(AnalyzerConfig() if cls == "analyzer" else VideoOptions(), name)


# AnalyzerConfig field -> the flags that set it (det_threshold/det_max_size fill detector_options)
ANALYZER_FLAGS: dict[str, tuple[str, ...]] = {
    "detector": ("--detector", "--whole-image"),
    "expression": ("--expression",),
    "threads": ("--threads",),
    "device": ("--device",),
    "batch_size": ("--batch-size",),
    "max_pixels": ("--max-pixels",),
    "pages": ("--pages",),
    "landmarks": ("--landmarks",),
    "aus": ("--aus",),
    "detector_options": ("--det-threshold", "--det-max-size"),
}
VIDEO_FLAGS: dict[str, tuple[str, ...]] = {name: ("--" + name.replace("_", "-"),) for name in
                                           ("every", "fps", "start", "end", "detect_every", "smooth", "max_missed")}


def add_analyzer_options(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """The shared analyzer option group: one flag (or two) per :class:`AnalyzerConfig` field, except the
    fields in ``exclude``. Every flag defaults to None (the config's default)."""
    from mien.config import AUS, LANDMARKS, PAGES, WHOLE_IMAGE

    group = parser.add_argument_group("analysis (mien.AnalyzerConfig)")
    add = group.add_argument
    if "detector" not in exclude:
        add("--detector", help=f"registered detector (see 'mien models'; default {_default('detector')}), or "
                               f"{WHOLE_IMAGE}")
        add("--whole-image", action="store_true", default=None, help="skip detection: each image is one cropped face")
    if "detector_options" not in exclude:
        add("--det-threshold", type=float, help="minimum face score in (0, 1] (default: the detector's)")
        add("--det-max-size", type=int, help="long side images are shrunk to for detection (default: the detector's)")
    if "expression" not in exclude:
        add("--expression", "--model", dest="expression",
            help=f"registered expression model or .onnx path (default {_default('expression')})")
    if "landmarks" not in exclude:
        add("--landmarks", choices=[name for name in LANDMARKS if name],
            help="mesh: 468-point face mesh + iris (shipped) -> 68 iBUG landmarks, eye openness, head pose "
                 "from the mesh (+ OpenFace's pose_T*/pose_R*) and gaze; mesh468: also the 468 points; "
                 "dlib68: 68 iBUG landmarks and eye openness from dlib (needs: pip install 'mien[landmarks]')")
    if "aus" not in exclude:
        add("--aus", choices=[name for name in AUS if name],
            help="mesh: action units (with intensities) from the face mesh instead of the expression model's AU head")
    if "batch_size" not in exclude:
        add("--batch-size", type=int,
            help=f"images whose faces are classified together (default {_default('batch_size')})")
    if "threads" not in exclude:
        add("--threads", type=int, help="CPU threads per model (default: $MIEN_THREADS or all cores, at most 8)")
    if "device" not in exclude:
        add("--device", choices=["cpu", "cuda"],
            help=f"where the models run; cuda needs an onnxruntime build with CUDA (default {_default('device')})")
    if "pages" not in exclude:
        add("--pages", choices=list(PAGES), help=f"multi-page TIFF: first page or all (default {_default('pages')})")
    if "max_pixels" not in exclude:
        add("--max-pixels", type=int, help=f"refuse larger images (default {_default('max_pixels'):_})")


def analyzer_values(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`AnalyzerConfig` keywords the user gave (None: not given)."""
    from mien.config import WHOLE_IMAGE

    given = vars(args)
    values = {name: given.get(name) for name in ANALYZER_FLAGS if name not in ("detector", "detector_options")}
    values["detector"] = WHOLE_IMAGE if given.get("whole_image") else given.get("detector")
    detector_options = {key: given.get(dest) for key, dest in (("score_threshold", "det_threshold"),
                                                                ("max_size", "det_max_size"))}
    values["detector_options"] = {key: value for key, value in detector_options.items() if value is not None} or None
    return values


def analyzer_config(args: argparse.Namespace, **overrides: Any) -> "AnalyzerConfig":
    """The :class:`AnalyzerConfig` of a parsed command line; ``overrides`` (None: not given) win."""
    from mien.config import AnalyzerConfig

    return AnalyzerConfig.from_options(**{**analyzer_values(args), **overrides})


def add_video_options(parser: argparse.ArgumentParser, include: Sequence[str] = tuple(VIDEO_FLAGS)) -> None:
    """The shared video option group (:class:`VideoOptions` fields in ``include``), every flag None by default."""
    group = parser.add_argument_group("video (mien.VideoOptions)")
    if "every" in include or "fps" in include:
        sampling = group.add_mutually_exclusive_group()
        if "every" in include:
            sampling.add_argument("--every", type=int, help="analyse every N-th frame (default: every frame)")
        if "fps" in include:
            sampling.add_argument("--fps", type=float, help="analyse at most F frames per second")
    add = group.add_argument
    if "start" in include:
        add("--start", type=float, help="first second to analyse (default: the beginning)")
    if "end" in include:
        add("--end", type=float, help="second to stop at (default: the end)")
    if "detect_every" in include:
        add("--detect-every", type=int, help="full detection every K analysed frames, tracked faces re-found in "
                                              f"between (default {_default('detect_every', 'video')})")
    if "smooth" in include:
        add("--smooth", type=float,
            help=f"smoothing time constant in seconds, 0 = off (default {_default('smooth', 'video')})")
    if "max_missed" in include:
        add("--max-missed", type=float, help="seconds a face may be missed and keep its track "
                                             f"(default {_default('max_missed', 'video')})")


def video_values(args: argparse.Namespace) -> dict[str, Any]:
    given = vars(args)
    return {name: given.get(name) for name in VIDEO_FLAGS}


def video_options(args: argparse.Namespace) -> "VideoOptions":
    """The :class:`VideoOptions` of a parsed command line (flags not given keep the defaults)."""
    from mien.config import VideoOptions

    return VideoOptions.from_options(**video_values(args))


def build_analyzer(config: "AnalyzerConfig"):
    """The analyzer of ``config``. The application, not the library, sets OpenCV's global thread count;
    an unknown model name is a usage error naming the flag."""
    from mien.analyzer import Analyzer

    if config.threads is not None:
        import cv2

        cv2.setNumThreads(config.threads)
    try:
        return Analyzer.from_config(config)
    except KeyError as error:  # the registry's "unknown backend": the user named a model that does not exist
        message = error.args[0] if error.args else str(error)
        raise UsageError(f"--detector/--expression: {message}") from None


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: refuse them)")


def check_output_targets(targets: dict[str, Path | None], inputs: Sequence[str] = (), overwrite: bool = False,
                         continued: Sequence[str] = ()) -> None:
    """Refuse, before any work, output files that cannot or must not be written: one that is an input, two
    outputs that are the same file, a folder, a path under a file, and a file that already exists unless
    ``overwrite`` (or its flag is in ``continued``: the table ``--resume`` continues). ``targets``: flag ->
    path (None: not written)."""
    sources = {os.path.realpath(path): path for path in inputs}
    seen: dict[str, str] = {}
    for flag, path in targets.items():
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in sources:
            raise UsageError(f"{flag} {path} is the input {sources[real]}: mien never writes over an input")
        if real in seen:
            raise UsageError(f"{flag} {path} is the same file as {seen[real]}: give each output its own name")
        seen[real] = f"{flag} {path}"
        if os.path.isdir(path):
            raise UsageError(f"{flag} {path} is a folder: give a file name")
        parent = Path(path).parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {path}: {parent} is a file, not a folder")
        if os.path.lexists(path) and not overwrite and flag not in continued:
            raise UsageError(f"{flag} {path} exists: mien does not replace a file unless told to; add --overwrite"
                             + (" (or --resume to continue it)" if flag == "--output" else ""))


class Rows:
    """Where a verb's rows go: a file (atomic, resumable) or stdout. ``close`` commits what was written."""

    def __init__(self, output: Path | None, fmt: str | None, schema: str, columns: list[str],
                 append: bool = False, formula_guard: bool = True) -> None:
        from mien.io.writers import RowFormatter, TableWriter, format_for

        self.format = format_for(output, fmt) if output else (fmt or "csv")
        if not output and self.format in ("json", "parquet"):
            raise UsageError(f"{self.format} output needs --output FILE (stdout takes csv or jsonl)")
        self.replaces = bool(output) and not append and os.path.lexists(output)  # --overwrite of an existing file
        self.kept_part = False
        self._closed = False
        self.file = (TableWriter(output, columns, self.format, schema, append=append, formula_guard=formula_guard)
                     if output else None)
        self._stdout = None if self.file else RowFormatter(columns, self.format, schema, formula_guard)
        if self._stdout:
            sys.stdout.write(self._stdout.header_text())

    @property
    def resumable(self) -> bool:
        return self.file is not None and self.format in ("csv", "jsonl")

    def write(self, records) -> None:
        if self.file:
            self.file.write(records)
        else:
            sys.stdout.write(self._stdout.rows_text(records)[0])
            sys.stdout.flush()

    def close(self, completed: bool = True) -> None:
        """Commit the file: always after a complete run; after an interrupted or failed one too (every row
        written is whole), except when it would replace an existing file, which is then kept as it was while
        the rows stay in ``<output>.part`` for ``--resume``."""
        if self.file and not self._closed:
            self._closed = True
            self.kept_part = self.replaces and not completed
            self.file.close(commit=not self.kept_part)


def interrupted(rows: Rows, what: str) -> int:
    hint = "; rerun with --resume to continue" if rows.resumable else ""
    where = (f" to {rows.file.part} (the previous {rows.file.path} is kept as it was; --resume replaces it with "
             "these rows and continues)" if rows.kept_part else "")
    print(f"\ninterrupted: {what} written{where}{hint}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _inside(path: str, folder: str) -> bool:
    """Whether real path ``path`` lies under real path ``folder`` (not equal to it)."""
    return path != folder and os.path.commonpath([path, folder]) == folder


def check_overlay_target(overlay: Path, inputs: Sequence[str], items: Sequence[str]) -> None:
    """Refuse an ``--overlay`` destination that is an input, holds an input, or lies in a folder being
    analysed (``items``: what the user named): mien never writes over an input, and a later run over the
    same folder must not analyse the overlays."""
    from mien.io.sources import path_kind

    target = os.path.realpath(overlay)
    for path in inputs if os.path.exists(target) else ():  # a destination not yet there holds no input
        source = os.path.realpath(path)
        if source == target or _inside(source, target):
            raise UsageError(f"--overlay {overlay} would write where the input {path} is: overlays never replace "
                             "inputs; choose a destination outside the inputs")
    for item in items:
        folder = os.path.realpath(item)
        if path_kind(item) == "folder" and (target == folder or _inside(target, folder)):
            raise UsageError(f"--overlay {overlay} is inside the input folder {item}: a later run would analyse "
                             "the overlays; choose a destination outside it")


class NoProgress:
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...
    def write(self, text: str) -> None:
        print(text, file=sys.stderr)


def shows_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def progress_bar(total: int, quiet: bool, unit: str = "img"):
    if not shows_progress(quiet) or total < 2:
        return NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
