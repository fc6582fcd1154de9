"""Turning what the user typed (files, folders, globs) into an ordered list of inputs.

Nothing found is dropped silently: a path that cannot be checked (a folder without permission), a folder
that cannot be listed, and a broken or looping symbolic link with a wanted extension are kept as inputs,
so that each becomes an error row naming it and the reason (:func:`file_problem`). Folders are walked
iteratively, however deep.
"""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path

from mien.config import IMAGE_EXTENSIONS  # (re-exported: the extensions a folder is searched for)
from mien.config import UNDECODABLE_IMAGE_EXTENSIONS


def expand_inputs(items: list[str | Path], extensions: frozenset[str] = IMAGE_EXTENSIONS,
                  unmatched: list[str] | None = None, undecodable: list[str] | None = None) -> list[str]:
    """Expand folders (recursively, files with ``extensions``, sorted) and glob patterns.

    Plain file paths are kept whatever their extension, and paths that do not exist or cannot be checked
    are kept too, so that each becomes an error row naming it rather than vanishing silently. A pattern
    that matches nothing is left out (as a shell does with ``*.jpg *.png`` in a folder without PNGs) and
    appended to ``unmatched`` when given, for the front end to warn about; so are the HEIC/HEIF files a
    folder walk leaves out (``undecodable``).
    """
    expanded: list[str] = []
    for item in items:
        text = os.fspath(item)
        kind = path_kind(text)
        if kind == "folder":
            expanded.extend(walk_folder(text, extensions, undecodable))
        elif kind == "missing" and glob.has_magic(text):
            matches = sorted(m for m in glob.glob(text, recursive=True) if path_kind(m) == "file")
            expanded.extend(matches)
            if not matches and unmatched is not None:
                unmatched.append(text)
        else:
            expanded.append(os.path.normpath(text) if text else text)  # "./a.jpg" and "a.jpg" are one input
    return list(dict.fromkeys(expanded))  # drop repeats, keep order


def path_kind(path: str) -> str:
    """``"folder"``, ``"file"`` (anything else that exists), ``"missing"``, or ``"unreadable"`` when it
    cannot be checked (no permission on a parent folder, a symbolic-link loop)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return "unreadable"
    return "folder" if stat.S_ISDIR(mode) else "file"


def walk_folder(folder: str, extensions: frozenset[str], undecodable: list[str] | None = None) -> list[str]:
    """Files under ``folder`` with one of ``extensions``, in path order, walked without recursion (a tree
    thousands of levels deep is fine); symbolic links to folders are not followed (as ``Path.rglob``).

    Also returned, to be reported: folders that cannot be listed, and broken or looping symbolic links
    with a wanted extension.
    """
    root = os.path.normpath(folder)
    found: list[str] = []
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            found.append(current)  # its row says why its files are missing
            continue
        for entry in entries:
            path = entry.name if current == "." else os.path.join(current, entry.name)
            if _is_folder(entry):
                stack.append(path)
            elif os.path.splitext(entry.name)[1].lower() in extensions and _is_candidate(entry, path):
                found.append(path)
            elif undecodable is not None and os.path.splitext(entry.name)[1].lower() in UNDECODABLE_IMAGE_EXTENSIONS:
                undecodable.append(path)
    return sorted(found, key=lambda path: path.split(os.sep))


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_candidate(entry: os.DirEntry, path: str) -> bool:
    """A regular file (or a link to one), or a link that leads nowhere (reported as such)."""
    try:
        if entry.is_file():
            return True
        return entry.is_symlink() and path_kind(path) in ("missing", "unreadable")
    except OSError:
        return True


def file_problem(path: str | Path, what: str = "image") -> str | None:
    """Why ``path`` cannot be read as a ``what`` file (missing, a broken link, no permission, a folder,
    empty), or None if it looks readable."""
    if os.fspath(path) == "":
        return "empty file name"
    if "\0" in os.fspath(path):
        return "the name holds a NUL byte, which no file name can"
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if glob.has_magic(os.fspath(path)) and not os.path.lexists(path):
            return "no file matches this pattern"
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "file not found"
    except OSError as error:  # no permission on a folder above it, a symbolic-link loop
        return f"cannot access it ({error.strerror or error})"
    if stat.S_ISDIR(info.st_mode):
        try:
            with os.scandir(path):
                pass
        except OSError as error:
            return f"folder cannot be listed ({error.strerror or error}): the files in it were not analysed"
        return f"is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a device, pipe or socket)"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    return None


def megapixels(pixels: int) -> str:
    """A pixel count in megapixels for messages: whole numbers from 10 MP, two significant digits below."""
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
