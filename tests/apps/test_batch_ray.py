"""mien batch on a real Ray cluster (2 CPUs, started on loopback by this module): the same rows as the
local engine, through a SIGKILLed actor and a rerun after a unit that could not be run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from test_batch import OPTIONS, assert_same_rows, make_corpus

from mien.batch import EngineSettings, read_batch, run_batch


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, pyfeat_media):
    return make_corpus(tmp_path_factory.mktemp("batch-ray"), pyfeat_media)


@pytest.fixture(scope="module")
def local_rows(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("local") / "out"
    run_batch([corpus], output, OPTIONS, EngineSettings(num_workers=2))
    return read_batch(output)


def test_ray_gives_the_local_rows_although_an_actor_is_killed(cluster, corpus, local_rows, tmp_path, monkeypatch):
    marker = tmp_path / "killed-once"
    monkeypatch.setenv("MIEN_BATCH_TEST_KILL", f"/unit-00001@{marker}")  # the second chunk and segment
    output = tmp_path / "out"
    report = run_batch([corpus], output, OPTIONS, EngineSettings("ray", num_workers=2))
    assert marker.exists() and report.retries >= 1
    assert report.engine.startswith("ray: 2 actor(s) x 1 thread(s)")
    assert report.units_failed == 0 and report.units_run == 6
    assert_same_rows(read_batch(output), local_rows)


def test_ray_rerun_redoes_a_unit_whose_actor_died(cluster, corpus, local_rows, tmp_path, monkeypatch):
    output = tmp_path / "out"
    monkeypatch.setenv("MIEN_BATCH_TEST_KILL", "/unit-00002@always")  # the last video segment
    first = run_batch([corpus], output, OPTIONS, EngineSettings("ray", num_workers=2, max_attempts=1))
    assert first.units_failed == 1 and not first.interrupted
    video = next(row for row in first.status if row["input"].endswith("single_face.mp4"))
    assert video["status"] == "failed" and "worker died 1 time" in video["error"] and video["units_done"] == 2
    monkeypatch.delenv("MIEN_BATCH_TEST_KILL")
    second = run_batch([corpus], output, OPTIONS, EngineSettings("ray", num_workers=2))
    assert second.units_run == 1 and second.units_skipped == 5
    assert_same_rows(read_batch(output), local_rows)
    status = pd.read_csv(output / "manifest.csv", keep_default_na=False)
    assert status.loc[status["input"].str.endswith("single_face.mp4"), "status"].tolist() == ["done"]


def test_ray_actors_that_cannot_load_the_models_stop_the_run(cluster, corpus, tmp_path):
    from mien.batch import BatchOptions
    from mien.config import AnalyzerConfig
    from mien.batch.engines import WorkersFailing

    broken_model = tmp_path / "broken.onnx"
    broken_model.write_bytes(b"not an onnx model")
    with pytest.raises(WorkersFailing, match="a Ray actor could not start"):
        run_batch([corpus / "photos"], tmp_path / "out", BatchOptions(analysis=AnalyzerConfig(expression=str(broken_model))),
                  EngineSettings("ray", num_workers=1))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_joins_an_existing_cluster(corpus, tmp_path):
    """`ray start --head` in its own process group, then `mien batch --address HOST:PORT` from outside.
    (The Ray Client, ``ray://``, was left out: its per-client server fails to start now and then.)"""
    gcs = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # Ray's token authentication is not what is tested here
    ray_cli = str(Path(sys.executable).with_name("ray"))
    sessions = tempfile.mkdtemp(prefix="mien-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    with open(tmp_path / "head.log", "w") as log:
        head = subprocess.Popen([ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port",
                                 str(gcs), "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
                                 "--temp-dir", sessions], env=env, start_new_session=True, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (tmp_path / "head.log").read_text():  # head and its raylet are up
            assert head.poll() is None, "ray start --head exited: " + (tmp_path / "head.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not start in 90 s"
            time.sleep(0.2)
        output = tmp_path / "out"
        done = subprocess.run([sys.executable, "-m", "mien.cli", "batch", str(corpus / "photos"), "--output", str(output),
                               "--engine", "ray", "--address", f"127.0.0.1:{gcs}"],
                              env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 1, done.stderr  # 1: the two bad files
        assert "ray: 1 actor(s) x 1 thread(s)" in done.stderr
        status = pd.read_csv(output / "manifest.csv")
        assert sorted(status["status"]) == ["done"] * 4 + ["failed"] * 2
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head and every Ray process it started share its group
        head.wait()
        shutil.rmtree(sessions, ignore_errors=True)
