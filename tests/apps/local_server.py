"""A real ``mien serve`` as a child process on a free loopback port (a harness for tests and benchmarks, not
shipped in the wheel).

    with LocalServer(data_dir) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Sequence


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """``mien serve --host 127.0.0.1 --port <free> --data-dir <data_dir> <args>``, started and stopped."""

    def __init__(self, data_dir: str | Path, args: Sequence[str] = (), threads: int = 1, startup_timeout: float = 90.0,
                 log: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.log = Path(log) if log else self.data_dir.parent / f"{self.data_dir.name}_server.log"
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LocalServer":
        self.port = free_port()
        command = [sys.executable, "-m", "mien.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--threads", str(self.threads), "--log-level", "warning",
                   *self.args]
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MIEN_THREADS": str(self.threads)}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mien serve exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mien serve did not answer /healthz within {self.startup_timeout:g} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs (a crash or power cut, as far as the server can tell)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (graceful), then SIGKILL if it has not ended after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
