"""A Ray that ``mien batch`` started must not outlive its driver, even one killed with ``kill -9``.

``ray.init`` ties the GCS and the raylet to the driver, but the agents the raylet starts
(``DashboardAgent``, ``RuntimeEnvAgent``) linger for a minute or more once it is gone. So the driver starts
this small watcher with a pipe on its stdin: when the pipe closes (the driver shut Ray down, exited or was
killed) the watcher stops every process whose command line names the Ray session (SIGTERM, then SIGKILL
after a grace period) and exits. Linux only (``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

GRACE_SECONDS = 5.0


def session_processes(session: str, spare: Iterable[int] = (), proc: Path = Path("/proc")) -> list[int]:
    """Processes whose command line names ``session``, or Ray processes (``ray::...``: the agents rename
    themselves) holding a file of the session open; never this one or those in ``spare``."""
    if not session or not proc.is_dir():
        return []
    spared = {os.getpid(), *spare}
    return [int(entry.name) for entry in proc.iterdir()
            if entry.name.isdigit() and int(entry.name) not in spared and _uses_session(entry, session)]


def _uses_session(process: Path, session: str) -> bool:
    try:
        command = (process / "cmdline").read_bytes()
        if session.encode() in command:
            return True
        if not command.startswith(b"ray::"):
            return False
        descriptors = os.listdir(process / "fd")
    except OSError:  # gone meanwhile, or not ours to read
        return False
    for descriptor in descriptors:
        try:
            if session in os.readlink(process / "fd" / descriptor):
                return True
        except OSError:
            continue
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: only its parent's wait is missing
        return (Path("/proc") / str(pid) / "stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_processes(pids: Iterable[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM ``pids``, then SIGKILL those still alive after ``grace`` seconds."""
    pids = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def start_reaper(session: str) -> subprocess.Popen:
    """Start the watcher for Ray session ``session``; close its ``stdin`` (or die) to make it act."""
    return subprocess.Popen([sys.executable, "-m", "mien.batch.reaper", session], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it shuts Ray down itself
    session, driver = argv[0], os.getppid()
    while sys.stdin.buffer.read(4096):  # returns b"" when the driver closed the pipe or died
        pass
    stop_processes(session_processes(session, spare=[driver]))  # a driver still alive is never touched
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
