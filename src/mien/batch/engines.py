"""Where units run: a pool of local worker processes, or Ray actors. Both keep one
:class:`~mien.batch.worker.UnitRunner` (models loaded once) per worker, give each worker one unit at a
time, and replace a worker that dies, retrying its unit up to ``max_attempts`` times. They yield
``(unit, outcome, attempts)`` as units finish; the driver commits them.

Ray actors rather than Ray Data: the driver must learn about each unit as it finishes (to commit it,
single writer, before anything else is lost), units are few and coarse (a chunk of images, a segment of
video), and a dying worker must cost exactly its one unit; an actor pool with ``ray.wait`` gives that in a
few lines, where Ray Data would add its own retries and output files to reconcile with the commit log.
"""

from __future__ import annotations

import os
import pickle
import subprocess
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Sequence

from mien.batch.plan import BatchOptions, Unit
from mien.batch.worker import KILL_HOOK_ENV, UnitOutcome


@dataclass(frozen=True)
class EngineSettings:
    """``num_workers`` workers with ``threads`` onnxruntime/OpenCV threads each; None: defaults (one
    worker per core, cores // workers threads)."""

    engine: str = "local"
    address: str | None = None
    num_workers: int | None = None
    threads: int | None = None
    max_attempts: int = 2

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise ValueError(f"engine must be 'local' or 'ray', got {self.engine!r}")
        from mien.options import check_options

        check_options(num_workers=self.num_workers, threads_per_worker=self.threads, max_attempts=self.max_attempts)
        if self.address and self.engine != "ray":
            raise ValueError("--address needs --engine ray")


def split_cores(cores: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """``(workers, threads per worker)`` so that workers x threads does not exceed ``cores`` unless asked."""
    cores = max(1, cores)
    if workers is None:
        workers = max(1, cores // (threads or 1))
    return workers, threads or max(1, cores // workers)


def died(unit: Unit, attempts: int, reason: str) -> UnitOutcome:
    return UnitOutcome(unit.key, False, error=f"{unit.describe()}: worker died {attempts} time(s) ({reason})")


class _Scheduler:
    """Retry bookkeeping shared by both engines."""

    def __init__(self, units: Sequence[Unit], max_attempts: int) -> None:
        self.queue = deque(units)
        self.attempts: dict[str, int] = {}
        self.max_attempts = max_attempts

    def next(self) -> Unit | None:
        if not self.queue:
            return None
        unit = self.queue.popleft()
        self.attempts[unit.key] = self.attempts.get(unit.key, 0) + 1
        return unit

    def lost(self, unit: Unit, reason: str) -> tuple[Unit, UnitOutcome, int] | None:
        """A worker died holding ``unit``: queue it again, or give it up (returned as failed)."""
        attempts = self.attempts[unit.key]
        if attempts < self.max_attempts:
            self.queue.appendleft(unit)
            return None
        return unit, died(unit, attempts, reason), attempts


# ---------------------------------------------------------------------------------------- local processes
PARENT_POLL_SECONDS = 0.5


def exit_with_parent(interval: float = PARENT_POLL_SECONDS) -> None:
    """Make this process exit quietly (status 0, no traceback) within ``interval`` seconds of its parent's
    death, even in the middle of a unit: a daemon thread watches the parent's pid."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)  # the driver is gone (killed): nobody is left to take this worker's rows

    threading.Thread(target=watch, name="mien-exit-with-parent", daemon=True).start()


def _local_worker(connection, options: BatchOptions, threads: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    exit_with_parent()
    from mien.batch.worker import UnitRunner

    try:
        try:
            runner = UnitRunner(options, threads)
        except Exception as error:  # e.g. --device cuda without a CUDA build: every worker would fail alike
            connection.send(("failed", f"{type(error).__name__}: {error}"))
            return
        connection.send(("ready", runner.name))
        while True:
            unit = connection.recv()
            if unit is None:
                return
            connection.send(runner.run(unit))
    except (EOFError, OSError):  # the driver is gone (its end of the pipe closed): stop without a traceback
        return


class WorkersFailing(RuntimeError):
    """Workers cannot start (models cannot be loaded, mien missing on a node): the run stops."""


class LocalEngine:
    """Worker processes on this machine (``spawn``: a clean interpreter each, no forked model state)."""

    def __init__(self, options: BatchOptions, settings: EngineSettings) -> None:
        import multiprocessing

        self.options = options
        self.workers, self.threads = split_cores(os.cpu_count() or 1, settings.num_workers, settings.threads)
        self.max_attempts = settings.max_attempts
        self._context = multiprocessing.get_context("spawn")
        self._processes: list = []

    def describe(self) -> str:
        return f"local: {self.workers} worker process(es) x {self.threads} thread(s)"

    def _start(self):
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_local_worker, args=(child, self.options, self.threads), daemon=True)
        process.start()
        child.close()
        self._processes.append(process)
        return parent, process

    @staticmethod
    def _started(connection, process) -> None:
        """Read a new worker's first message; raise when it could not load its models."""
        try:
            state, detail = connection.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            state, detail = "failed", f"exit code {process.exitcode} while loading the models"
        if state != "ready":
            raise WorkersFailing(f"a worker could not start: {detail}")

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[Unit, UnitOutcome, int]]:
        from multiprocessing.connection import wait

        scheduler = _Scheduler(units, self.max_attempts)
        starting = dict(self._start() for _ in range(min(self.workers, len(units))))  # connection -> process
        idle: list = []  # (connection, process)
        busy: dict = {}  # connection -> (process, unit)
        try:
            while scheduler.queue or busy:
                while idle and scheduler.queue:
                    connection, process = idle.pop()
                    unit = scheduler.next()
                    try:
                        connection.send(unit)
                    except OSError:  # the idle worker died (e.g. killed for memory): count it, start another
                        process.join(timeout=5)
                        connection.close()
                        given_up = scheduler.lost(unit, f"worker gone before the unit started (exit code {process.exitcode})")
                        if given_up:
                            yield given_up
                        replacement, process = self._start()
                        starting[replacement] = process
                        continue
                    busy[connection] = (process, unit)
                watched = {**starting, **{c: p for c, (p, _) in busy.items()}}
                ready = wait(list(watched) + [process.sentinel for process in watched.values()])
                for connection in [c for c, p in watched.items() if c in ready or p.sentinel in ready]:
                    if connection in starting:
                        process = starting.pop(connection)
                        self._started(connection, process)
                        idle.append((connection, process))
                        continue
                    process, unit = busy.pop(connection)
                    try:
                        outcome = connection.recv()
                    except (EOFError, OSError, pickle.UnpicklingError):  # it died before answering in full
                        process.join(timeout=5)
                        connection.close()
                        given_up = scheduler.lost(unit, f"exit code {process.exitcode}")
                        if given_up:
                            yield given_up
                        if scheduler.queue and len(busy) + len(idle) + len(starting) < self.workers:
                            connection, process = self._start()
                            starting[connection] = process
                        continue
                    idle.append((connection, process))
                    yield unit, outcome, scheduler.attempts[unit.key]
        finally:
            for connection, _ in idle:
                try:
                    connection.send(None)
                except OSError:
                    pass
            self.close()

    def close(self) -> None:
        for process in self._processes:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()
        self._processes = []


# ---------------------------------------------------------------------------------------- Ray actors
def short_reason(error: Exception, limit: int = 300) -> str:
    """The telling line of a Ray error (they carry whole remote tracebacks)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if "Error" in line.split(":")[0]] or lines or [type(error).__name__]
    return telling[-1][:limit]


def ray_module():
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'mien[ray]'") from None
    return ray


class RayEngine:
    """One Ray actor per worker, each reserving ``threads`` CPUs of the cluster. Connects to ``address``
    (``auto``, ``ray://host:10001``) or, without one, to the Ray already initialised in this process,
    else starts a local Ray."""

    def __init__(self, options: BatchOptions, settings: EngineSettings) -> None:
        ray = ray_module()
        self.options = options
        self.max_attempts = settings.max_attempts
        self._started_here = False
        self._reaper = None
        if not ray.is_initialized():
            try:
                ray.init(address=settings.address, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = settings.address or "a new local Ray"
                raise ValueError(f"cannot start or reach Ray at {where}: {error}") from None
            self._started_here = True
            self._reaper = None if settings.address else _start_ray_reaper()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers, self.threads = split_cores(cpus, settings.num_workers, settings.threads)
        if self.workers * self.threads > cpus:
            raise ValueError(f"{self.workers} workers x {self.threads} threads need {self.workers * self.threads} "
                             f"CPUs; the Ray cluster has {cpus}")
        env = {"OMP_NUM_THREADS": str(self.threads)}
        if os.environ.get(KILL_HOOK_ENV):
            env[KILL_HOOK_ENV] = os.environ[KILL_HOOK_ENV]
        from mien.batch.worker import UnitRunner

        self._actor_class = ray.remote(UnitRunner).options(num_cpus=self.threads, max_restarts=0,
                                                           runtime_env={"env_vars": env})

    def describe(self) -> str:
        return f"ray: {self.workers} actor(s) x {self.threads} thread(s)"

    def run(self, units: Sequence[Unit]) -> Iterator[tuple[Unit, UnitOutcome, int]]:
        ray = ray_module()
        from ray.exceptions import RayError

        scheduler = _Scheduler(units, self.max_attempts)
        idle = [self._actor_class.remote(self.options, self.threads) for _ in range(min(self.workers, len(units)))]
        try:
            ray.get([actor.ping.remote() for actor in idle])
        except RayError as error:
            for actor in idle:
                ray.kill(actor, no_restart=True)
            raise WorkersFailing(f"a Ray actor could not start: {short_reason(error)}") from None
        busy: dict = {}  # object ref -> (actor, unit)
        try:
            while scheduler.queue or busy:
                while idle and scheduler.queue:
                    actor, unit = idle.pop(), scheduler.next()
                    busy[actor.run.remote(unit)] = (actor, unit)
                ready, _ = ray.wait(list(busy), num_returns=1)
                actor, unit = busy.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except RayError as error:  # the actor died (killed, out of memory, node lost)
                    ray.kill(actor, no_restart=True)
                    given_up = scheduler.lost(unit, short_reason(error))
                    if given_up:
                        yield given_up
                    if scheduler.queue:
                        idle.append(self._actor_class.remote(self.options, self.threads))
                    continue
                idle.append(actor)
                yield unit, outcome, scheduler.attempts[unit.key]
        finally:
            for actor in idle + [actor for actor, _ in busy.values()]:
                ray.kill(actor, no_restart=True)

    def close(self) -> None:
        if self._started_here:
            ray_module().shutdown()
        if self._reaper is not None:  # stop what shutdown left behind (agents linger), then let it go
            self._reaper.stdin.close()
            try:
                self._reaper.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            self._reaper = None


def _start_ray_reaper():
    """The watcher that stops the local Ray this driver started once the driver is gone (see
    :mod:`mien.batch.reaper`); None when the session cannot be named."""
    from mien.batch.reaper import start_reaper

    try:
        from ray._private import worker as ray_worker

        node = ray_worker._global_node
        session = node.session_name if node.head else None  # head: ray.init started it here, not a cluster
    except (ImportError, AttributeError):
        return None
    return start_reaper(session) if session else None


def make_engine(options: BatchOptions, settings: EngineSettings):
    return RayEngine(options, settings) if settings.engine == "ray" else LocalEngine(options, settings)
