"""mien batch on local worker processes: plan, segment reading, track reconciliation, commit log, and
exactly-once output through worker deaths, a killed driver and reruns (real media from ../shared)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mien.batch import BatchOptions, EngineSettings, read_batch, run_batch
from mien.batch.manifest import CommitLog
from mien.batch.plan import load_or_create_plan
from mien.batch.segments import read_segment
from mien.batch.tracks import SegmentTracks, reconcile
from mien.video.reader import Sampling, read_video

IMAGES = ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "free-mountain-vector-01.jpg")
VIDEO = "single_face.mp4"  # 2.4 s, one face: three segments of 1 s
OPTIONS = BatchOptions(chunk_size=3, segment_seconds=1.0, overlap=0.5)
KEY = ["input", "frame", "face_id"]


def make_corpus(root: Path, media: Path) -> Path:
    """A folder of real photos and two bad files, a real video and a broken one."""
    photos = root / "corpus" / "photos"
    photos.mkdir(parents=True)
    for name in IMAGES:
        (photos / name).write_bytes((media / name).read_bytes())
    (photos / "not_an_image.jpg").write_text("plain text, not a JPEG\n")
    (photos / "empty.png").write_bytes(b"")
    (root / "corpus" / VIDEO).write_bytes((media / VIDEO).read_bytes())
    (root / "corpus" / "broken.mp4").write_text("not a video\n")
    return root / "corpus"


def assert_same_rows(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert not actual.duplicated(KEY).any(), "duplicate rows"
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, pyfeat_media) -> Path:
    return make_corpus(tmp_path_factory.mktemp("batch"), pyfeat_media)


@pytest.fixture(scope="module")
def clean(corpus, tmp_path_factory):
    """One uninterrupted local run: (output folder, report, rows)."""
    output = tmp_path_factory.mktemp("clean") / "out"
    report = run_batch([corpus], output, OPTIONS, EngineSettings(num_workers=2))
    return output, report, read_batch(output)


# ---------------------------------------------------------------------------------------- pure parts
def test_reconcile_keeps_ids_across_cuts_and_numbers_new_faces_in_order():
    def rows(*items):
        return np.array(items, float).reshape(-1, 6)

    box, other = [10, 10, 50, 50], [200, 10, 240, 50]
    first = SegmentTracks(own=rows([0, 0, *box], [1, 0, *box], [1, 1, *other]))
    # segment 2 starts from scratch: its local track 0 is the face at `other`, 1 the face at `box`
    second = SegmentTracks(own=rows([2, 0, *other], [2, 1, *box], [3, 2, 400, 400, 440, 440]),
                           warmup=rows([1, 0, *other], [1, 1, *box]), follows=True)
    third = SegmentTracks(own=rows([9, 0, *box]), warmup=rows(), follows=False)  # its predecessor failed
    mappings = reconcile([first, second, third])
    assert mappings[0] == {0: 0, 1: 1}
    assert mappings[1] == {0: 1, 1: 0, 2: 2}
    assert mappings[2] == {0: 3}


@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "no_face.mp4", "face_noface.mov"])
def test_segments_read_the_frames_a_single_pass_reads(pyfeat_media, name):
    """Seeking gives the same frame indices and timestamps, also with an edit list and variable rate."""
    path = pyfeat_media / name
    full = [(f.index, round(f.timestamp, 6)) for f in read_video(path) if f.image is not None]
    for start, end in ((1.3, 2.1), (2.5, None)):
        segment = [(f.index, round(f.timestamp, 6)) for f in read_segment(path, Sampling(start=start, end=end))
                   if f.image is not None]
        expected = [item for item in full if item[1] >= start - 1e-6 and (end is None or item[1] < end - 1e-6)]
        assert segment == expected and segment


def test_plan_is_stable_and_refuses_other_options(tmp_path, corpus):
    output = tmp_path / "out"
    plan = load_or_create_plan(output, [corpus], OPTIONS)
    kinds = [(u.kind, len(u.paths), u.start, u.end, u.warmup) for u in plan.units]
    assert kinds == [("images", 3, 0.0, None, 0.0), ("images", 3, 0.0, None, 0.0),
                     ("video", 1, 0.0, None, 0.0),  # broken.mp4: no duration, one unit
                     ("video", 1, 0.0, 1.0, 0.0), ("video", 1, 1.0, 2.0, 0.5), ("video", 1, 2.0, None, 0.5)]
    assert load_or_create_plan(output, [corpus], OPTIONS).units == plan.units
    with pytest.raises(ValueError, match="other options.*segment_seconds=1.0"):
        load_or_create_plan(output, [corpus], BatchOptions(segment_seconds=2.0))


def test_commit_log_ignores_a_torn_last_line(tmp_path):
    log = CommitLog.open(tmp_path / "commits.jsonl")
    log.append({"unit": "a/unit-00000", "status": "ok", "file": "parts/a.parquet"})
    with open(log.path, "a") as handle:
        handle.write('{"unit": "a/unit-00001", "sta')  # the driver died mid-write
    reopened = CommitLog.open(log.path)
    assert list(reopened.units) == ["a/unit-00000"] and reopened.torn == 1
    reopened.append({"unit": "a/unit-00001", "status": "ok", "file": "parts/b.parquet"})
    assert list(CommitLog.open(log.path).units) == ["a/unit-00000", "a/unit-00001"]


# ---------------------------------------------------------------------------------------- end to end
def test_clean_run_rows_status_and_track_ids(clean, corpus, analyzer):
    output, report, rows = clean
    assert report.units_run == 6 and report.units_failed == 0 and not report.interrupted
    status = pd.read_csv(output / "manifest.csv", keep_default_na=False).set_index("input")
    bad, empty, broken = (str(corpus / name) for name in ("photos/not_an_image.jpg", "photos/empty.png", "broken.mp4"))
    assert status.loc[bad, "status"] == "failed" and "not a recognised image" in status.loc[bad, "error"]
    assert status.loc[empty, "status"] == "failed" and "empty file" in status.loc[empty, "error"]
    assert status.loc[broken, "status"] == "failed" and "cannot open video" in status.loc[broken, "error"]
    assert (status.drop([bad, empty, broken])["status"] == "done").all()
    assert status.loc[str(corpus / "photos" / "multi_face.jpg"), "faces"] == 5
    # the same rows as the single-process API
    images = rows[rows["segment"].isna()]
    direct = analyzer.analyze(sorted(str(p) for p in (corpus / "photos").iterdir())).to_pandas()
    assert images["input"].tolist() == direct["input"].tolist()
    assert np.allclose(images["expr_happy"].to_numpy(float), direct["expr_happy"].to_numpy(float), atol=1e-5,
                       equal_nan=True)
    video = rows[rows["input"] == str(corpus / VIDEO)]
    single = analyzer.analyze_video(corpus / VIDEO).to_pandas()
    assert video["frame"].tolist() == single["frame"].tolist() == list(range(72))
    assert sorted(video["segment"].unique()) == [0, 1, 2]
    assert video["track_id"].tolist() == single["track_id"].tolist()  # one face, one id across the cuts
    smoothed = [c for c in video if c.startswith("expr_smooth_")]
    assert np.abs(video[smoothed].to_numpy(float) - single[smoothed].to_numpy(float)).max() < 0.01  # README says so


def test_rerun_skips_everything_committed(clean, corpus, tmp_path):
    output, _, rows = clean
    again = run_batch([corpus], output, OPTIONS, EngineSettings(num_workers=2))
    assert again.units_run == 0 and again.units_skipped == 6
    assert_same_rows(read_batch(output), rows)


def test_a_killed_worker_is_replaced_and_its_unit_redone(clean, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MIEN_BATCH_TEST_KILL", f"unit-00001@{tmp_path / 'killed-once'}")
    output = tmp_path / "out"
    report = run_batch([corpus], output, OPTIONS, EngineSettings(num_workers=2))
    assert (tmp_path / "killed-once").exists()  # the hook fired
    assert report.retries >= 1 and report.units_failed == 0
    assert_same_rows(read_batch(output), clean[2])


def test_killed_driver_then_rerun_equals_a_clean_run(clean, corpus, tmp_path):
    """SIGKILL the whole job while a worker keeps dying on its last unit; the rerun finishes it, drops
    files never committed, and the output equals an uninterrupted run's."""
    output = tmp_path / "out"
    env = {**os.environ, "MIEN_BATCH_TEST_KILL": "/unit-00002@always"}  # the last video segment never ends
    command = [sys.executable, "-m", "mien.cli", "batch", str(corpus), "--output", str(output), "--num-workers", "1",
               "--chunk-size", "3", "--segment-seconds", "1", "--overlap", "0.5", "--max-attempts", "1000000", "-q"]
    job = subprocess.Popen(command, env=env, start_new_session=True)
    log_path = output / "commits.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and job.poll() is None:
            if log_path.exists() and len(CommitLog.open(log_path).units) >= 5:
                break
            time.sleep(0.1)
        assert job.poll() is None, "the job ended before it could be killed"
        assert len(CommitLog.open(log_path).units) == 5
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    garbage = output / "parts" / "input_id=photos-00000000" / "unit-00007.parquet"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"left by a killed run")
    with open(log_path, "a") as handle:
        handle.write('{"unit": "torn')
    report = run_batch([corpus], output, OPTIONS, EngineSettings(num_workers=2))
    assert report.units_skipped == 5 and report.units_run == 1
    assert not garbage.exists()
    assert_same_rows(read_batch(output), clean[2])
    assert set(pd.read_csv(output / "manifest.csv")["status"]) == {"done", "failed"}


def test_a_unit_that_always_kills_its_worker_fails_and_the_job_finishes(corpus, tmp_path, monkeypatch):
    from mien.cli import main

    monkeypatch.setenv("MIEN_BATCH_TEST_KILL", "/unit-00000@always")
    output = tmp_path / "out"
    code = main(["batch", str(corpus / "photos"), "--output", str(output), "--chunk-size", "3", "--num-workers", "1",
                 "-q"])
    assert code == 1
    status = pd.read_csv(output / "manifest.csv", keep_default_na=False)
    died = status["error"].str.contains("worker died 2 time")
    assert died.sum() == 3 and (status.loc[died, "status"] == "failed").all()  # the first chunk of 3 images
    others = status[~died].set_index("input")["status"].to_dict()
    assert sorted(others.values()) == ["done", "done", "failed"]  # the second chunk: one is not an image


def test_usage_errors_name_the_problem(tmp_path, corpus, capsys):
    from mien.batch.job import exclusive
    from mien.cli import main

    assert main(["batch", str(corpus), "--output", str(tmp_path / "a"), "--address", "auto"]) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "nothing-*.jpg"), "--output", str(tmp_path / "b")]) == 2
    assert "no input files found" in capsys.readouterr().err
    assert main(["batch", str(corpus), "--output", str(tmp_path / "c"), "--expression", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err
    with exclusive(tmp_path / "d"):  # another driver holds the output
        assert main(["batch", str(corpus), "--output", str(tmp_path / "d")]) == 2
    assert "another mien batch is writing there" in capsys.readouterr().err
    mine = tmp_path / "mine"  # a user's folder: refused, and nothing is written into it, not even the lock
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["batch", str(corpus), "--output", str(mine)]) == 2
    assert "holds no plan.json: not a mien batch output" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert main(["batch", str(corpus), "--output", str(mine / "notes.txt")]) == 2
    assert "is a file: a batch writes into a folder" in capsys.readouterr().err


def test_workers_that_cannot_load_the_models_stop_the_run_with_the_reason(corpus, tmp_path, capsys):
    from mien.cli import main

    broken_model = tmp_path / "broken.onnx"
    broken_model.write_bytes(b"not an onnx model")
    code = main(["batch", str(corpus / "photos"), "--output", str(tmp_path / "out"), "--expression",
                 str(broken_model), "--num-workers", "1", "-q"])
    assert code == 3
    error = capsys.readouterr().err
    assert "a worker could not start" in error and "broken.onnx" in error


@pytest.mark.parametrize("cores, workers, threads, expected", [
    (2, None, None, (2, 1)), (16, 4, None, (4, 4)), (16, None, 4, (4, 4)), (16, 3, None, (3, 5)), (1, 4, None, (4, 1)),
])
def test_workers_share_the_cores_without_oversubscribing(cores, workers, threads, expected):
    from mien.batch.engines import split_cores

    assert split_cores(cores, workers, threads) == expected
