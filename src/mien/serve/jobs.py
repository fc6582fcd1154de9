"""Video jobs: a queue and their state in SQLite (WAL mode), so a restart loses no submitted or finished job.

Every job is one row; its upload and outputs are files under the server's data folder, named by the job
id only (ids come from :func:`secrets.token_urlsafe`, never from a client). A job is claimed with one
``UPDATE ... RETURNING`` statement, atomic in SQLite, so two worker processes never take the same job.
A running job whose owner process is gone (killed, crashed) is put back in the queue and resumed from the
rows already written; after :data:`MAX_ATTEMPTS` starts it is marked failed with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed")
MAX_ATTEMPTS = 3  # starts of one job (first run + resumes after restarts) before it is given up
STALE_AFTER = 120.0  # seconds without a heartbeat after which a running job counts as orphaned

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    name TEXT NOT NULL,                 -- the client's file name, shown only
    options TEXT NOT NULL,              -- JSON: how to sample and smooth
    progress REAL NOT NULL DEFAULT 0,   -- 0..1
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER NOT NULL DEFAULT 0,
    faces INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',     -- host:pid of the process running it
    heartbeat REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    upload_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
-- a place in the queue held while a video is being uploaded, so uploads count against --queue-size
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY,                -- the job id the upload will become
    owner TEXT NOT NULL,                -- host:pid:token of the process receiving it
    created REAL NOT NULL
);
"""
PENDING = ("(SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')) "
           "+ (SELECT count(*) FROM reservations)")
RESERVATION_EXPIRES = 3600.0  # seconds: a reservation of a process this host cannot check is dropped after this


_PROCESS_TOKEN = secrets.token_hex(8)


def process_owner() -> str:
    """``host:pid:token``; the random token tells apart processes that share a host name and pid (containers
    on host networking often all run as pid 1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by ``owner`` still runs: True / False when it can be checked (this host),
    None when it cannot (another host name, or an owner written by an older mien)."""
    host, pid, token = (owner.split(":") + ["", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit() or not token:
        return None
    if owner == process_owner():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return None if int(pid) == os.getpid() else True  # our pid, another token: a previous life of this pid


def _earlier_life_of_this_pid(owner: str) -> bool:
    """``owner`` names this host and process id but another process token: a process that has ended."""
    host, pid, _ = (owner.split(":") + ["", ""])[:3]
    return host == socket.gethostname() and pid == str(os.getpid()) and owner != process_owner()


@dataclass
class Job:
    id: str
    status: str
    name: str
    options: dict[str, Any]
    progress: float = 0.0
    frames_done: int = 0
    frames_total: int = 0
    faces: int = 0
    error: str = ""
    attempts: int = 0
    owner: str = ""
    heartbeat: float | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    upload_deleted: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        values = dict(row)
        values["options"] = json.loads(values["options"])
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """What a client is told about the job (no paths, no owner)."""
        return {"id": self.id, "status": self.status, "name": self.name, "progress": round(self.progress, 4),
                "frames_done": self.frames_done, "frames_total": self.frames_total, "faces": self.faces,
                "error": self.error, "attempts": self.attempts, "options": self.options, "created": self.created,
                "started": self.started, "finished": self.finished}


class JobStore:
    """The jobs table of ``<data_dir>/jobs.sqlite3``; safe to use from several threads and processes."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.uploads = self.data_dir / "uploads"
        self.results = self.data_dir / "results"
        for folder in (self.data_dir, self.uploads, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite3"
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: every statement is its own transaction; waits up to 30 s for another writer.
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _execute(self, sql: str, parameters: tuple = ()) -> list[sqlite3.Row]:
        with closing(self._connect()) as db:
            return db.execute(sql, parameters).fetchall()

    # ----------------------------------------------------------------- paths (by id only)
    def upload_path(self, job_id: str) -> Path:
        return self.uploads / f"{job_id}.video"

    def result_dir(self, job_id: str) -> Path:
        return self.results / job_id

    # ----------------------------------------------------------------- queue
    def new_id(self) -> str:
        return secrets.token_urlsafe(24)

    def reserve(self, job_id: str, max_pending: int) -> bool:
        """Hold a place in the queue for an upload about to be received; False when ``max_pending`` jobs and
        reservations exist (checked and inserted in one statement, so concurrent uploads cannot overshoot)."""
        self.drop_abandoned_reservations()
        rows = self._execute(f"INSERT INTO reservations (id, owner, created) SELECT ?, ?, ? WHERE {PENDING} < ? "
                             "RETURNING id", (job_id, process_owner(), time.time(), max_pending))
        return bool(rows)

    def release(self, job_id: str) -> None:
        """Give back an upload's reservation (the upload failed or was refused)."""
        self._execute("DELETE FROM reservations WHERE id = ?", (job_id,))

    def drop_abandoned_reservations(self) -> list[str]:
        """Delete reservations whose process is gone (or, for a process this host cannot check, that are
        older than RESERVATION_EXPIRES): an upload cut off by a crash must not hold its place forever."""
        dropped = []
        for row in self._execute("SELECT id, owner, created FROM reservations"):
            alive = False if _earlier_life_of_this_pid(row["owner"]) else owner_alive(row["owner"])
            if alive is False or (alive is None and time.time() - row["created"] > RESERVATION_EXPIRES):
                self.release(row["id"])
                dropped.append(row["id"])
        return dropped

    def create(self, job_id: str, name: str, options: dict[str, Any], max_pending: int) -> Job | None:
        """Queue a job whose upload is already in place, turning its reservation (if any) into the job; None
        when ``max_pending`` jobs and reservations exist (checked and inserted in one transaction)."""
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM reservations WHERE id = ?", (job_id,))
                rows = db.execute(
                    f"INSERT INTO jobs (id, status, name, options, created) SELECT ?, 'queued', ?, ?, ? "
                    f"WHERE {PENDING} < ? RETURNING *",
                    (job_id, name, json.dumps(options), time.time(), max_pending)).fetchall()
                db.execute("COMMIT" if rows else "ROLLBACK")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Job.from_row(rows[0]) if rows else None

    def pending(self) -> int:
        """Jobs queued or running, plus uploads holding a reservation."""
        return self._execute(f"SELECT {PENDING}")[0][0]

    def claim(self, owner: str) -> Job | None:
        """Take the oldest queued job (atomically) and mark it running for ``owner``."""
        now = time.time()
        rows = self._execute(
            "UPDATE jobs SET status = 'running', owner = ?, heartbeat = ?, started = coalesce(started, ?), "
            "attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' "
            "ORDER BY created LIMIT 1) AND status = 'queued' RETURNING *", (owner, now, now))
        return Job.from_row(rows[0]) if rows else None

    def get(self, job_id: str) -> Job | None:
        rows = self._execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(rows[0]) if rows else None

    def progress(self, job_id: str, owner: str, frames_done: int, frames_total: int) -> None:
        """Record progress (and a heartbeat); the fraction stays below 1 until the job is done."""
        progress = min(frames_done / frames_total, 0.99) if frames_total else 0.0
        self._execute("UPDATE jobs SET frames_done = ?, frames_total = ?, progress = ?, heartbeat = ? "
                      "WHERE id = ? AND owner = ? AND status = 'running'",
                      (frames_done, frames_total, progress, time.time(), job_id, owner))

    def finish(self, job_id: str, owner: str, status: str, error: str = "", frames_done: int | None = None,
               faces: int | None = None) -> None:
        if status not in ("done", "failed", "queued"):
            raise ValueError(f"cannot finish a job as {status!r}")
        self._execute(
            "UPDATE jobs SET status = ?, error = ?, progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END, "
            "frames_done = coalesce(?, frames_done), faces = coalesce(?, faces), "
            "finished = CASE WHEN ? = 'queued' THEN NULL ELSE ? END, owner = CASE WHEN ? = 'queued' THEN '' "
            "ELSE owner END WHERE id = ? AND owner = ? AND status = 'running'",
            (status, error, status, frames_done, faces, status, time.time(), status, job_id, owner))

    def recover_orphans(self, owner: str, running_here: str | None, stale_after: float = STALE_AFTER) -> list[str]:
        """Put running jobs whose process is gone back in the queue, or fail them after MAX_ATTEMPTS starts.

        A running job is orphaned when its owner process has died (checked on this host), when its owner
        cannot be checked (another host name) and its heartbeat is older than ``stale_after`` seconds, or
        when it names this process (``owner``) without being the job this process runs (``running_here``).
        Returns the ids recovered or failed.
        """
        now = time.time()
        recovered = []
        for row in self._execute("SELECT id, owner, heartbeat, attempts FROM jobs WHERE status = 'running'"):
            if row["id"] == running_here:
                continue
            stale = row["heartbeat"] is None or now - row["heartbeat"] > stale_after
            alive = owner_alive(row["owner"])
            # an owner we can check decides by itself (a slow step without heartbeats is not a death);
            # staleness decides only for owners we cannot check
            if not (row["owner"] == owner or alive is False or (alive is None and stale)):
                continue
            if row["attempts"] >= MAX_ATTEMPTS:
                reason = (f"interrupted {row['attempts']} times (the server stopped or crashed while it ran); "
                          "given up")
                self._execute("UPDATE jobs SET status = 'failed', finished = ?, error = ? "
                              "WHERE id = ? AND status = 'running' AND owner = ?", (now, reason, row["id"], row["owner"]))
            else:
                self._execute("UPDATE jobs SET status = 'queued', owner = '' WHERE id = ? AND status = 'running' "
                              "AND owner = ?", (row["id"], row["owner"]))
            recovered.append(row["id"])
        return recovered

    def expired_uploads(self, keep: float) -> list[str]:
        """Finished jobs whose upload is older than ``keep`` seconds past their end and not yet deleted."""
        rows = self._execute("SELECT id FROM jobs WHERE status IN ('done', 'failed') AND upload_deleted = 0 "
                             "AND finished <= ?", (time.time() - keep,))
        return [row["id"] for row in rows]

    def mark_upload_deleted(self, job_id: str) -> None:
        self._execute("UPDATE jobs SET upload_deleted = 1 WHERE id = ?", (job_id,))

    def delete(self, job_id: str) -> bool:
        """Forget a finished (done or failed) job and delete its files; False if it is queued or running."""
        import shutil

        if not self._execute("DELETE FROM jobs WHERE id = ? AND status IN ('done', 'failed') RETURNING id", (job_id,)):
            return False
        self.upload_path(job_id).unlink(missing_ok=True)
        shutil.rmtree(self.result_dir(job_id), ignore_errors=True)
        return True
