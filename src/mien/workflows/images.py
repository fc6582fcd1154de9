"""``mien analyze``: analyse images into a table (through a row sink) and overlay images.

The overlays are drawn by :func:`mien.viz.draw.draw_faces` from the frames that
``Analyzer.stream(..., keep_images=True)`` hands back, and saved by :mod:`mien.workflows.overlays`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence


@dataclass
class ImagesReport:
    """What :func:`run_images` did: inputs analysed, faces found, inputs with errors (and the messages)."""

    done: int = 0
    faces: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def resume_todo(paths: Sequence[str], output: Path, fmt: str | None, formula_guard: bool = True) -> tuple[list[str], dict]:
    """The inputs of ``paths`` not yet in the interrupted table ``output`` (CSV/JSON lines), and those done."""
    from mien.io.writers import prepare_resume

    done_before = prepare_resume(output, fmt, formula_guard)
    return [p for p in paths if p not in done_before], done_before


def run_images(analyzer, paths: Sequence[str], write_rows: Callable[[list[dict]], None],
               overlay: Path | None = None, progress=None, report: ImagesReport | None = None) -> ImagesReport:
    """Analyse ``paths`` one by one: each input's rows go to ``write_rows`` as soon as it is done and, with
    ``overlay``, its image with boxes and labels drawn is saved in that folder (names from
    :func:`mien.workflows.overlays.overlay_names`). ``progress`` (tqdm-like: ``update``, ``write``) is optional;
    ``report`` is filled as inputs finish (so a caller interrupted by Ctrl-C knows how far it got)."""
    from mien.workflows.overlays import OverlayWriter

    writer = OverlayWriter(overlay, list(paths)) if overlay is not None else None
    report = report if report is not None else ImagesReport()
    for result, frames in analyzer.stream(list(paths), keep_images=writer is not None):
        if writer is not None:
            writer.write(result, frames)
        write_rows(list(result.to_records()))
        report.failed += bool(result.errors)
        report.faces += len(result)
        report.done += 1
        report.errors.extend(result.errors)
        if progress is not None:
            for message in result.errors:
                progress.write(f"error: {message}")
            progress.update(1)
    return report
