"""A real ``mien serve`` process: restart after SIGKILL mid-job, a bounded load test with bad inputs mixed
in, and the web page in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx  # the serve and serve-test extras: `make test` installs them
import numpy as np
import pandas as pd
import pytest

from local_server import LocalServer  # the test harness beside this file

from conftest import REPO, png_claiming, wait_for

ARTIFACTS = Path(os.environ.get("MIEN_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))


def job_status(client: httpx.Client, job_id: str) -> dict:
    reply = client.get(f"/v1/videos/{job_id}")
    assert reply.status_code == 200, reply.text
    return reply.json()


# ------------------------------------------------------------------ restart
def test_a_job_killed_with_the_server_resumes_and_matches_an_uninterrupted_run(tmp_path, analyzer, pyfeat_media):
    from mien.io.writers import TableWriter
    from mien.workflows.video import VideoOutputs, run_videos, video_columns
    from mien.video.pipeline import VideoOptions

    clip = pyfeat_media / "WolfgangLanger_Pexels.mp4"  # 472 frames; every 3rd analysed
    data_dir = tmp_path / "data"
    first = LocalServer(data_dir, threads=2).start()
    try:
        with httpx.Client(base_url=first.url, timeout=30) as client:
            reply = client.post("/v1/videos?every=3", files={"file": (clip.name, clip.read_bytes())})
            assert reply.status_code == 202
            job_id = reply.json()["id"]
            wait_for(lambda: job_status(client, job_id)["frames_done"] >= 12, 60, "the job to get going")
    finally:
        first.kill()  # SIGKILL while the job runs
    assert (data_dir / "results" / job_id / "frames.jsonl.part").exists()

    with LocalServer(data_dir, threads=2) as second, httpx.Client(base_url=second.url, timeout=30) as client:
        status = job_status(client, job_id)
        assert status["status"] in ("queued", "running"), status  # neither lost nor failed
        done = wait_for(lambda: (s := job_status(client, job_id))["status"] in ("done", "failed") and s, 120,
                        "the resumed job")
        assert done["status"] == "done" and done["attempts"] == 2, done
        result = client.get(f"/v1/videos/{job_id}/result").json()
        served_csv = client.get(f"/v1/videos/{job_id}/result?format=csv").text

    reference = tmp_path / "reference.jsonl"
    with TableWriter(reference, video_columns()) as table:
        run_videos(analyzer, [str(clip)], VideoOptions(every=3), VideoOutputs(table=table))
    expected = pd.read_json(reference, lines=True)
    resumed = pd.DataFrame(result["rows"])
    assert resumed["frame"].tolist() == list(range(0, 472, 3)) == expected["frame"].tolist()
    assert resumed["track_id"].fillna(-1).tolist() == expected["track_id"].fillna(-1).tolist()
    numeric = [c for c in expected if expected[c].dtype.kind == "f" and c != "timestamp"]
    np.testing.assert_allclose(resumed[numeric].to_numpy(float), expected[numeric].to_numpy(float), atol=1e-4)
    assert len(served_csv.strip().splitlines()) == 1 + len(expected)
    assert result["summary"][0]["frames"] == int((expected["success"] == 1).sum())
    assert not (data_dir / "uploads" / f"{job_id}.video").exists()  # deleted once done


def stalled_upload_answer(port: int) -> str:
    """Start a raw video upload, send part of it, stop sending: the server's first answer line."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                           b"\x00\x00\x00\x20ftypisom")
        return connection.recv(4096).decode("latin-1").splitlines()[0]


def test_two_worker_processes_share_the_queue_without_running_a_job_twice(tmp_path, pyfeat_media):
    clip = (pyfeat_media / "single_face.mp4").read_bytes()
    with LocalServer(tmp_path / "data", ["--workers", "2", "--timeout", "2"], threads=1) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        assert stalled_upload_answer(server.port).startswith("HTTP/1.1 408")
        ids = [client.post("/v1/videos?every=4", content=clip).json()["id"] for _ in range(4)]
        finished = [wait_for(lambda job_id=job_id: (s := job_status(client, job_id))["status"] in ("done", "failed")
                             and s, 120, "the jobs") for job_id in ids]
        frames = {len(client.get(f"/v1/videos/{job_id}/result").json()["rows"]) for job_id in ids}
    assert [job["status"] for job in finished] == ["done"] * 4 and frames == {18}
    assert all(job["attempts"] == 1 for job in finished)  # each claimed exactly once


def worker_processes(supervisor: int) -> list[int]:
    """Pids of the multiprocessing children (uvicorn's workers) of ``supervisor``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == supervisor and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_stop_when_their_supervisor_is_killed(tmp_path):
    import signal

    server = LocalServer(tmp_path / "data", ["--workers", "2"], threads=1).start()
    try:
        workers = wait_for(lambda: len(pids := worker_processes(server.process.pid)) == 2 and pids, 60,
                           "two worker processes")
    finally:
        server.kill()  # SIGKILL: the supervisor cannot tell its workers anything
    try:
        wait_for(lambda: not any(running(pid) for pid in workers), 45, "the orphaned workers to exit")
    finally:
        for pid in filter(running, workers):  # they are this test's own (grand)children
            os.kill(pid, signal.SIGKILL)
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=2)


def peak_rss_bytes(pid: int) -> int:
    """The peak resident memory (VmHWM) of process ``pid`` so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def test_an_rgba_image_costs_the_server_a_few_bytes_per_pixel(tmp_path):
    from PIL import Image

    pixels = np.zeros((4000, 4000, 4), np.uint8)  # 16 MP, half transparent: about 0.3 MB as PNG
    pixels[..., 3], pixels[::7, ::5] = 128, 200
    path = tmp_path / "rgba.png"
    Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    with LocalServer(tmp_path / "data", threads=1) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        before = peak_rss_bytes(server.process.pid)
        assert client.post("/v1/analyze", content=path.read_bytes()).status_code == 200
        growth = peak_rss_bytes(server.process.pid) - before
    assert growth < 10 * pixels.shape[0] * pixels.shape[1], f"{growth / 16e6:.1f} bytes per pixel"


# ------------------------------------------------------------------ load
GOOD = ("single_face.jpg", "0-f15-hao-ph.jpg", "45-m7-di-ph.jpg", "multi_face.jpg")


def test_load_with_bad_inputs_mixed_in(tmp_path, analyzer, pyfeat_media, bad_inputs):
    expected = {name: analyzer.analyze(str(pyfeat_media / name)).expressions for name in GOOD}
    images = {name: (pyfeat_media / name).read_bytes() for name in GOOD}
    bad = {"truncated": (bad_inputs["truncated"].read_bytes(), 422),
           "text": (bad_inputs["text"].read_bytes(), 415),
           "bomb": (png_claiming(20000, 20000), 422),
           "oversize": (b"\xff\xd8\xff" + bytes(3 * 1024 * 1024), 413)}
    clients, per_client = 8, 4
    work = [("good", GOOD[(c + r) % len(GOOD)]) for c in range(clients) for r in range(per_client)]
    work += [("bad", name) for name in bad for _ in range(3)]
    work = [work[i] for i in np.random.default_rng(0).permutation(len(work))]

    with LocalServer(tmp_path / "data", ["--concurrency", "2", "--max-image-mb", "2"], threads=1) as server:
        def send(item: tuple[str, str]) -> tuple[str, str, int, list[str] | str, float]:
            kind, name = item
            body = images[name] if kind == "good" else bad[name][0]
            with httpx.Client(base_url=server.url, timeout=60) as client:
                started = time.perf_counter()
                reply = client.post("/v1/analyze", files={"file": (f"{name}.jpg", body)})
                seconds = time.perf_counter() - started
            payload = reply.json()
            answer = [r["expression"] for r in payload["records"] if r["success"]] if reply.status_code == 200 \
                else payload["message"]
            return kind, name, reply.status_code, answer, seconds

        with ThreadPoolExecutor(clients + 4) as pool:
            replies = list(pool.map(send, work))
        health = httpx.get(server.url + "/healthz").json()

    assert len(replies) == len(work) and health["status"] == "ok"  # none lost; the server still answers
    for kind, name, status, answer, _ in replies:
        if kind == "good":
            assert status == 200 and answer == expected[name], (name, status, answer)
        else:
            assert status == bad[name][1] and isinstance(answer, str) and answer, (name, status, answer)
    latencies = sorted(seconds for kind, _, _, _, seconds in replies if kind == "good")
    record = {"clients": clients + 4, "good_requests": len(latencies), "bad_requests": len(work) - len(latencies),
              "p50_ms": 1000 * statistics.median(latencies),
              "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))]}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "serve_load.json").write_text(json.dumps(record, indent=2))
    print(f"load test: {record}")


# ------------------------------------------------------------------ the web page in a browser
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            pytest.fail(f"{program} missing: `make test` installs it (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1500", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, "file")
    driver.execute_script("arguments[0].style.display = 'block';", field)  # styled away behind its label
    field.send_keys(str(path))
    driver.execute_script("arguments[0].style.display = '';", field)


def test_web_page_shows_an_analysed_photo_and_a_video(tmp_path, browser, analyzer, pyfeat_media):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = analyzer.analyze(str(pyfeat_media / "single_face.jpg"))

    with LocalServer(tmp_path / "data", threads=2) as server:
        browser.get(server.url + "/")
        assert browser.title.startswith("mien")
        upload(browser, pyfeat_media / "single_face.jpg")
        rows = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#faces tbody tr"))
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        assert len(rows) == 1 and cells[1] == "happy" and float(cells[2]) > 0.8, cells
        assert "1 face(s) in single_face.jpg" in browser.find_element(By.ID, "status").text
        size = browser.execute_script("const c = document.getElementById('canvas'); return [c.width, c.height];")
        assert size == [expected.frames.widths[0], expected.frames.heights[0]]
        # the label above the face box is filled with the colour of "happy" (240, 228, 66)
        x, y = int(expected.boxes[0][0]) + 3, int(expected.boxes[0][1]) - 3
        pixel = browser.execute_script(
            "const ctx = document.getElementById('canvas').getContext('2d');"
            f"return Array.from(ctx.getImageData({x}, {y}, 1, 1).data);")
        assert np.abs(np.array(pixel[:3]) - [240, 228, 66]).max() <= 3, pixel
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "serve_page.png"))
        assert not browser.find_element(By.ID, "downloads").get_attribute("hidden")
        # AU bars and the valence/arousal point appear only for results that carry those columns
        count = "return ['au-bars', 'va-plot'].map((k) => document.querySelectorAll('#extras canvas.' + k).length);"
        if not any(c.startswith("AU") for c in expected.columns()) and "valence" not in expected.columns():
            assert browser.execute_script(count) == [0, 0]
        browser.execute_script(
            "showExtras({columns: ['AU06_p', 'AU12_p', 'AU12_c', 'valence', 'arousal'], records: [{success: 1,"
            " face_id: 0, expression: 'happy', AU06_p: 0.7, AU12_p: 0.9, AU12_c: 1, valence: 0.6, arousal: 0.2}]});")
        assert browser.execute_script(count) == [1, 1]

        upload(browser, pyfeat_media / "single_face.mp4")
        track_rows = WebDriverWait(browser, 90).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#tracks tbody tr"))
        cells = [c.text for c in track_rows[0].find_elements(By.TAG_NAME, "td")]
        assert cells[0] == "0" and cells[4] == "72" and cells[5] == "happy", cells
        assert browser.find_element(By.ID, "progress").get_attribute("value") == "1"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#timelines canvas")) == 1
        browser.save_screenshot(str(ARTIFACTS / "serve_page_video.png"))

        browser.get(server.url + "/docs")  # the API docs, served offline
        operations = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        paths = {o.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text for o in operations}
        assert {"/v1/analyze", "/v1/videos", "/v1/videos/{job_id}/result", "/healthz"} <= paths, paths
        logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, logs
        logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, logs
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
