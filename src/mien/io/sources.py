"""Turning what the user typed (files, folders, globs) into an ordered list of inputs."""

from __future__ import annotations

import glob
import os
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jfif"})


def expand_inputs(items: list[str | Path], extensions: frozenset[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Expand folders (recursively, files with ``extensions``, sorted) and glob patterns.

    Plain file paths are kept whatever their extension, and paths that do not exist are kept too, so
    that each becomes an error row naming it rather than vanishing silently.
    """
    expanded: list[str] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            expanded.extend(str(p) for p in found)
        elif not path.exists() and glob.has_magic(text):
            expanded.extend(sorted(m for m in glob.glob(text, recursive=True) if Path(m).is_file()))
        else:
            expanded.append(os.path.normpath(text))  # "./a.jpg" and "a.jpg" are one input
    return list(dict.fromkeys(expanded))  # drop repeats, keep order


def file_problem(path: str | Path, what: str = "image") -> str | None:
    """Why ``path`` cannot be read as a ``what`` file (missing, a folder, empty), or None if it looks readable."""
    path = Path(path)
    if not path.exists():
        return "file not found"
    if path.is_dir():
        return f"is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}"
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    return None
