"""Batch workers and Ray sessions do not outlive a killed driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# ---------------------------------------------------------------------------------------- 15: batch workers
DRIVER = """
import sys, time
from mien.batch.engines import EngineSettings, LocalEngine
from mien.batch.plan import BatchOptions
engine = LocalEngine(BatchOptions(), EngineSettings(num_workers=1, threads=1))
connection, process = engine._start()
engine._started(connection, process)
print(process.pid, flush=True)
time.sleep(120)
"""


def test_local_workers_exit_quietly_when_the_driver_is_killed():
    from mien.batch.reaper import _alive

    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        worker = int(driver.stdout.readline())
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its driver"
        _, errors = driver.communicate(timeout=15)  # the worker wrote to the same stream
    finally:
        driver.kill()
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_the_ray_reaper_stops_the_session_processes_once_its_driver_is_gone():
    from mien.batch.reaper import _alive, start_reaper, stop_processes

    session = f"session_mien_test_{os.getpid()}_{time.time_ns()}"
    lingering = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", session]) for _ in range(2)]
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print(1, flush=True); time.sleep(120)"], stdout=subprocess.PIPE)
    try:
        reaper = start_reaper(session)
        time.sleep(0.5)
        assert all(process.poll() is None for process in lingering)  # nothing happens while the driver lives
        reaper.stdin.close()  # what a killed driver does to it
        reaper.wait(15)
        for process in lingering:
            process.wait(5)
        stubborn.stdout.readline()
        stop_processes([stubborn.pid], grace=0.3)  # SIGTERM ignored: SIGKILL after the grace period
        stubborn.wait(5)
        assert not _alive(stubborn.pid)
    finally:
        for process in [*lingering, stubborn]:
            process.kill()


RAY_DRIVER = """
import time
from ray._private import worker
from mien.batch.engines import EngineSettings, RayEngine
from mien.batch.plan import BatchOptions
RayEngine(BatchOptions(), EngineSettings("ray", num_workers=1, threads=1))
print(worker._global_node.session_name, flush=True)
time.sleep(300)
"""


def test_a_ray_started_by_mien_does_not_outlive_its_killed_driver():
    pytest.importorskip("ray")
    from mien.batch.reaper import _alive, session_processes, stop_processes

    driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER], stdout=subprocess.PIPE, text=True)
    session = ""
    try:
        session = driver.stdout.readline().strip()
        assert session.startswith("session_")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::DashboardAgent")
                for pid in session_processes(session) if _alive(pid)):
            time.sleep(0.5)  # the agents that used to linger start a few seconds after ray.init
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in session_processes(session)):
            time.sleep(0.5)
        assert not [pid for pid in session_processes(session) if _alive(pid)], "Ray processes outlived the driver"
    finally:
        driver.kill()
        stop_processes(session_processes(session), grace=1)
