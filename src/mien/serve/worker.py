"""The background thread that runs video jobs, one at a time, pulling from the SQLite queue.

Rows go to ``results/<id>/frames.jsonl`` frame by frame (flushed; ``.part`` until complete), so a job cut
off by a restart continues after its last complete frame (``mien.workflows.video.plan_resume``), and the
result is the same as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

from mien.serve.jobs import Job, JobStore, process_owner

log = logging.getLogger("mien.serve")

POLL_SECONDS = 0.5  # how often an idle worker looks for jobs and orphans
HEARTBEAT_SECONDS = 0.25  # at most this often progress is written to the database
ABANDONED_UPLOAD_SECONDS = 3600.0  # an upload not written to for this long was cut off (crash mid-upload)


class JobStopped(Exception):
    """The server is shutting down: leave the job resumable."""


def table_path(store: JobStore, job_id: str) -> Path:
    return store.result_dir(job_id) / "frames.jsonl"


def summary_path(store: JobStore, job_id: str) -> Path:
    return store.result_dir(job_id) / "summary.jsonl"


def expected_frames(path: Path, every: int, fps: float | None) -> int:
    """Frames the job will analyse, from the header (0 when unknown); for the progress fraction only."""
    from mien.video.reader import probe

    try:
        info = probe(path)
    except Exception:
        return 0
    if fps:
        return max(1, math.ceil(info.duration * min(fps, info.fps or fps)))
    return math.ceil((info.frames or int(info.duration * info.fps)) / every)


def count_faces(table: Path) -> int:
    """Face rows in a finished job's table (all of it, also the part written before a restart)."""
    with open(table, encoding="utf-8") as handle:
        return sum('"success": 1' in line for line in handle)


class Progress:
    """``run_videos``' progress sink: counts frames, writes a heartbeat, stops when asked."""

    def __init__(self, store: JobStore, job: Job, owner: str, done: int, total: int, stop: threading.Event) -> None:
        self.store, self.job, self.owner, self.stop = store, job, owner, stop
        self.done, self.total = done, total
        self._written = 0.0

    def update(self, n: int) -> None:
        self.done += n
        if self.stop.is_set():
            raise JobStopped()
        now = time.monotonic()
        if now - self._written >= HEARTBEAT_SECONDS:
            self._written = now
            self.store.progress(self.job.id, self.owner, self.done, max(self.total, self.done))


class VideoWorker(threading.Thread):
    """Runs queued jobs with ``analyzer`` until :meth:`stop` is called."""

    def __init__(self, store: JobStore, analyzer, keep_uploads: float = 0.0) -> None:
        super().__init__(name="mien-video-worker", daemon=True)
        self.store, self.analyzer, self.keep_uploads = store, analyzer, keep_uploads
        self.owner = process_owner()
        self.current: str | None = None
        self._stop_event = threading.Event()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.tidy()
                job = self.store.claim(self.owner)
                if job is None:
                    self._stop_event.wait(POLL_SECONDS)
                    continue
                self.current = job.id
                self.run_job(job)
            except Exception:  # the worker must outlive any one failure; the job row says what happened
                log.exception("video worker error")
                self._stop_event.wait(POLL_SECONDS)
            finally:
                self.current = None

    def tidy(self) -> None:
        """Requeue orphaned jobs and delete uploads past their retention."""
        for job_id in self.store.recover_orphans(self.owner, self.current):
            log.warning("job %s was interrupted by a restart: queued again (or failed after too many tries)", job_id)
        for job_id in self.store.expired_uploads(self.keep_uploads):
            self.store.upload_path(job_id).unlink(missing_ok=True)
            self.store.mark_upload_deleted(job_id)
        for part in self.store.uploads.glob("*.part"):  # uploads cut off by a crash: written to an hour ago
            try:
                if time.time() - part.stat().st_mtime > ABANDONED_UPLOAD_SECONDS:
                    part.unlink()
            except FileNotFoundError:  # finished or removed meanwhile
                pass

    def run_job(self, job: Job) -> None:
        from mien.io.writers import TableWriter
        from mien.config import VideoOptions
        from mien.workflows.video import VideoOutputs, plan_resume, run_videos, video_columns

        upload = self.store.upload_path(job.id)
        if not upload.exists():
            self.store.finish(job.id, self.owner, "failed", "the uploaded video is gone (deleted before the job ran)")
            return
        table = table_path(self.store, job.id)
        options = VideoOptions.from_options(**job.options)  # the keywords the client gave; None: default
        every = options.every
        try:  # everything that reads or writes the job's files: any failure fails the job with its reason
            table.parent.mkdir(parents=True, exist_ok=True)
            started_before = table.exists() or table.with_name(table.name + ".part").exists()
            plan = plan_resume(table, "jsonl") if started_before else None
            already = sum(frame + 1 for frame in plan.unfinished.values()) // every if plan else 0
            progress = Progress(self.store, job, self.owner, already, expected_frames(upload, every, options.fps),
                                self._stop_event)
            with TableWriter(table, video_columns(self.analyzer), "jsonl", append=started_before) as writer:
                report = run_videos(self.analyzer, [str(upload)], options,
                                    VideoOutputs(table=writer, summary=summary_path(self.store, job.id)),
                                    plan, progress)
        except JobStopped:
            self.store.finish(job.id, self.owner, "queued")  # resumed at the next start
            return
        except Exception as error:
            log.exception("job %s failed", job.id)
            self.store.finish(job.id, self.owner, "failed", self.public(f"{type(error).__name__}: {error}", job))
            return
        message = self.public(next(iter(report.failed.values()), ""), job)
        unreadable = bool(report.failed) and writer.rows <= 1 and not started_before
        self.store.finish(job.id, self.owner, "failed" if unreadable else "done", message,
                          frames_done=progress.done, faces=count_faces(table))

    def public(self, message: str, job: Job) -> str:
        """A message for the client: the upload's path shown as its file name, no server folders."""
        return message.replace(str(self.store.upload_path(job.id)), job.name).replace(str(self.store.data_dir),
                                                                                       "<data-dir>")
