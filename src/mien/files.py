"""Writing a file so that a reader never sees it half-written, and never through a planted link.

Temporary files are created exclusively and never through a symbolic link (``O_EXCL | O_NOFOLLOW``): a
pre-existing ``<name>.part`` link is removed, not followed; other temporary files get random names
(:func:`exclusive_temp`). A ``<name>.part`` being written is held under an advisory lock (:func:`hold_lock`),
so a second run writing the same table is refused instead of taking the first run's file away. :func:`write_atomic` replaces a whole file at once. The table formats
(:mod:`mien.tables`), the model tools (:func:`mien.models.heads.save_model`) and the applications share these;
:mod:`mien.io.writers` re-exports them.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the checks below then never refuse
    fcntl = None

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the platform has no such flag
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_BINARY", 0)


def part_path(path: Path) -> Path:
    """Where a table is written before it is committed: ``<name>.part`` (a fixed name, so that a run killed
    midway can be resumed from it)."""
    return path.with_name(path.name + ".part")


class FileInUseError(FileExistsError):
    """Another process is writing this file (it holds the file's advisory lock)."""


# flock errors of file systems without advisory locks (some network and FUSE mounts): write unlocked there
_NO_LOCKS = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}


def hold_lock(descriptor: int, path: Path) -> None:
    """Take the advisory lock of the open file ``descriptor`` (released when it is closed); refuse with
    :class:`FileInUseError` naming ``path`` when another process holds it. Where the platform or the file
    system has no such locks, nothing is locked."""
    if fcntl is None:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FileInUseError(f"{path}: another mien run is writing it; wait for that run to end, or choose "
                             "another output") from None
    except OSError as error:
        if error.errno not in _NO_LOCKS:
            raise


def _open_existing(path: Path) -> int | None:
    """A read-only descriptor of the regular file ``path`` (never through a link), None if there is none."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return os.open(path, os.O_RDONLY | NOFOLLOW)
    except OSError:  # missing, no permission, a name the file system refuses
        return None


def check_not_in_use(path: Path) -> None:
    """Refuse (:class:`FileInUseError`) when ``path`` is a regular file another process holds locked."""
    descriptor = _open_existing(path)
    if descriptor is not None:
        try:
            hold_lock(descriptor, path)
        finally:
            os.close(descriptor)


def remove_stale(path: Path) -> None:
    """Remove a killed run's leftover (or a planted link) at ``path``, refusing (:class:`FileInUseError`) a
    file a live run holds locked. The file is removed while this holds its lock, and only if ``path`` still
    names that file, so a run that has just created its own file there never loses it."""
    descriptor = _open_existing(path)
    if descriptor is None:
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                os.unlink(path)  # a link or another non-regular entry: never followed, removed
        except FileNotFoundError:
            pass
        return
    try:
        hold_lock(descriptor, path)
        try:
            same = os.path.samestat(os.fstat(descriptor), os.lstat(path))
        except FileNotFoundError:
            return
        if not same:
            raise FileInUseError(f"{path}: another mien run has just started writing it; choose another output")
        os.unlink(path)
    finally:
        os.close(descriptor)


def create_exclusive(path: Path, replace_stale: bool = False) -> int:
    """Create ``path`` as a new file and return its descriptor: never an existing file, never through a
    symbolic link (``O_EXCL | O_NOFOLLOW``). With ``replace_stale`` an entry already there (a killed run's
    leftover, or a link someone planted) is removed first, unless a live run holds it locked
    (:class:`FileInUseError`, see :func:`remove_stale`); if another appears meanwhile, this fails."""
    if replace_stale:
        remove_stale(path)
    return os.open(path, _CREATE, 0o666)


def exclusive_temp(target: Path) -> tuple[int, Path]:
    """A new temporary file beside ``target`` (``<name>.<random>.part``), created exclusively, for writing
    ``target`` atomically: returns its descriptor and path; the caller renames it onto ``target`` (``os.replace``, as
    :func:`write_atomic` does) or removes it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = target.with_name(f"{target.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{target}: cannot create a temporary file beside it")


def write_atomic(target: str | Path, data: str | bytes) -> None:
    """Replace ``target`` with ``data`` (text as UTF-8): a fresh exclusive temporary file, flushed to disk,
    then renamed onto it; a failure leaves ``target`` as it was and removes the temporary file."""
    target = Path(target)
    descriptor, tmp = exclusive_temp(target)
    try:
        with open(descriptor, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
