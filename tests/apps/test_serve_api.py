"""The REST API in-process (FastAPI TestClient) on real media: results, bad inputs, limits, keys, jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient  # the serve and serve-test extras: `make test` installs them

from mien.config import AnalyzerConfig
from mien.serve.app import ServeConfig, create_app
from mien.serve.jobs import MAX_ATTEMPTS, JobStore, process_owner
from mien.serve.limits import Limits, display_name, sniff, valid_job_id

from conftest import png_claiming, wait_for

KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    limits = Limits(max_image_bytes=3 * 1024 * 1024, max_video_bytes=8 * 1024 * 1024, max_queued_jobs=4)
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("serve"), analysis=AnalyzerConfig(threads=2), limits=limits)
    with TestClient(create_app(config)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keyed_client(tmp_path_factory):
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("serve_key"), analysis=AnalyzerConfig(threads=1), api_key=KEY, video_worker=False)
    with TestClient(create_app(config)) as test_client:
        yield test_client


def test_analyze_returns_the_result_schema_records(client, analyzer, pyfeat_media):
    data = (pyfeat_media / "single_face.jpg").read_bytes()
    reply = client.post("/v1/analyze", files={"file": ("single_face.jpg", data, "image/jpeg")})
    assert reply.status_code == 200
    body = reply.json()
    expected = analyzer.analyze(data)
    assert body["columns"] == expected.columns()
    assert body["faces"] == 1 and len(body["records"]) == 1
    face, reference = body["records"][0], next(expected.to_records())
    assert list(face) == expected.columns() and face["input"] == "single_face.jpg"
    assert face["expression"] == "happy" == reference["expression"] and face["expr_happy"] > 0.8
    for column in ("face_x", "face_y", "face_width", "expr_happy", "lm5_x_0"):
        assert face[column] == pytest.approx(reference[column], abs=1e-3)


def test_analyze_takes_raw_bytes_and_csv(client, pyfeat_media):
    data = (pyfeat_media / "multi_face.jpg").read_bytes()
    body = client.post("/v1/analyze?name=group.jpg", content=data,
                       headers={"Content-Type": "application/octet-stream"}).json()
    assert body["faces"] >= 4 and {r["input"] for r in body["records"]} == {"group.jpg"}
    csv_reply = client.post("/v1/analyze?format=csv", content=data)
    assert csv_reply.headers["content-type"].startswith("text/csv")
    lines = csv_reply.text.strip().splitlines()
    assert lines[0].startswith("input,frame,timestamp,face_id") and len(lines) == 1 + body["faces"]


def test_image_without_a_face_gives_one_unsuccessful_row(client, pyfeat_media):
    body = client.post("/v1/analyze", content=(pyfeat_media / "free-mountain-vector-01.jpg").read_bytes()).json()
    assert body["faces"] == 0 and body["records"][0]["success"] == 0 and body["records"][0]["face_id"] == -1


@pytest.mark.parametrize("kind, status, words", [
    ("truncated", 422, "truncated"),
    ("text", 415, "text, not an image"),
    ("empty", 415, "empty body"),
    ("bomb", 422, "megapixels"),
])
def test_bad_images_get_a_json_reason(client, bad_inputs, kind, status, words):
    reply = client.post("/v1/analyze", files={"file": (bad_inputs[kind].name, bad_inputs[kind].read_bytes())})
    assert reply.status_code == status
    body = reply.json()
    assert body["status"] == status and words in body["message"] and "Traceback" not in reply.text


def test_declared_type_is_ignored_content_decides(client, pyfeat_media):
    video = (pyfeat_media / "single_face.mp4").read_bytes()
    reply = client.post("/v1/analyze", files={"file": ("photo.jpg", video, "image/jpeg")})
    assert reply.status_code == 415 and "video" in reply.json()["message"]
    image = (pyfeat_media / "single_face.jpg").read_bytes()
    reply = client.post("/v1/videos", files={"file": ("clip.mp4", image, "video/mp4")})
    assert reply.status_code == 415 and "image" in reply.json()["message"]


def test_size_limits_answer_413(client):
    reply = client.post("/v1/analyze", content=b"\xff\xd8\xff" + b"0" * (4 * 1024 * 1024))
    assert reply.status_code == 413 and "limit" in reply.json()["message"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(10):
            yield b"0" * (1024 * 1024)
    reply = client.post("/v1/videos", content=chunks())
    assert reply.status_code == 413


def test_a_pixel_bomb_under_the_pillow_limit_is_refused_by_mien(client):
    reply = client.post("/v1/analyze", content=png_claiming(10000, 9000))  # 90 MP > the server's 50 MP
    assert reply.status_code == 422 and "above the limit of 50 megapixels" in reply.json()["message"]


def test_a_request_over_the_time_limit_gets_504(tmp_path, pyfeat_media):
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=Limits(request_timeout=0.001))
    with TestClient(create_app(config)) as test_client:
        reply = test_client.post("/v1/analyze", content=(pyfeat_media / "multi_face.jpg").read_bytes())
        assert reply.status_code == 504 and "longer than the limit" in reply.json()["message"]
        assert test_client.get("/healthz").status_code == 200


def test_unknown_and_malformed_job_ids_are_404(client):
    for job_id in ("nonexistent", "..%2F..%2Fjobs.sqlite3", "a" * 30, "../../etc/passwd"):
        reply = client.get(f"/v1/videos/{job_id}")
        assert reply.status_code == 404, job_id
        assert reply.json()["status"] == 404
    assert client.get("/v1/videos/..%2Fjobs.sqlite3/result").status_code == 404


def test_invalid_parameters_are_422_json(client, pyfeat_media):
    data = (pyfeat_media / "single_face.mp4").read_bytes()
    reply = client.post("/v1/videos?every=0", content=data)
    assert reply.status_code == 422 and "every" in reply.json()["message"]
    assert client.post("/v1/videos?every=2&fps=5", content=data).status_code == 422
    assert client.post("/v1/analyze?format=xml", content=b"").status_code == 422


def test_internal_errors_are_json_without_a_stack_trace(client, pyfeat_media, monkeypatch):
    def broken(*args):
        raise RuntimeError("secret internal detail")
    monkeypatch.setattr(client.app.state.pool, "analyze", broken)
    safe = TestClient(client.app, raise_server_exceptions=False)
    reply = safe.post("/v1/analyze", content=(pyfeat_media / "single_face.jpg").read_bytes())
    assert reply.status_code == 500
    assert reply.json()["message"].startswith("internal error") and "secret" not in reply.text


def test_video_job_runs_and_its_upload_is_deleted(client, pyfeat_media):
    reply = client.post("/v1/videos?every=2", files={"file": ("single_face.mp4",
                                                             (pyfeat_media / "single_face.mp4").read_bytes())})
    assert reply.status_code == 202
    job = reply.json()
    assert valid_job_id(job["id"]) and reply.headers["location"] == f"/v1/videos/{job['id']}"
    done = wait_for(lambda: (s := client.get(f"/v1/videos/{job['id']}").json())["status"] in ("done", "failed") and s,
                    60, "the video job")
    assert done["status"] == "done" and done["progress"] == 1.0 and done["frames_done"] == 36
    result = client.get(job["links"]["result"]).json()
    assert [r["frame"] for r in result["rows"]] == list(range(0, 72, 2))
    assert {r["input"] for r in result["rows"]} == {"single_face.mp4"} and result["faces"] == 36
    assert result["summary"][0]["dominant_expression"] == "happy" and result["summary"][0]["frames"] == 36
    csv_lines = client.get(job["links"]["csv"]).text.strip().splitlines()
    assert len(csv_lines) == 37 and "track_id" in csv_lines[0] and "/" not in csv_lines[1].split(",")[0]
    summary = client.get(job["links"]["summary_csv"]).text.strip().splitlines()
    assert summary[0].startswith("input,track_id") and len(summary) == 2
    store = client.app.state.store
    wait_for(lambda: not store.upload_path(job["id"]).exists(), 10, "the upload to be deleted")
    assert client.delete(f"/v1/videos/{job['id']}").status_code == 204
    assert client.get(f"/v1/videos/{job['id']}").status_code == 404 and not store.result_dir(job["id"]).exists()


def test_csv_download_of_a_job_with_a_non_latin_name(client, pyfeat_media):
    """HTTP headers are Latin-1: the file name travels as an ASCII fallback plus RFC 6266 UTF-8."""
    data = (pyfeat_media / "single_face.mp4").read_bytes()
    job = client.post("/v1/videos?every=24&name=面接.mp4", content=data).json()
    wait_for(lambda: client.get(f"/v1/videos/{job['id']}").json()["status"] in ("done", "failed"), 60, "the job")
    reply = client.get(job["links"]["csv"])
    assert reply.status_code == 200 and len(reply.text.strip().splitlines()) == 4
    disposition = reply.headers["content-disposition"]
    assert "filename*=UTF-8''%E9%9D%A2%E6%8E%A5_frames.csv" in disposition and 'filename="' in disposition


def test_unreadable_video_fails_with_its_reason(client, pyfeat_media):
    data = (pyfeat_media / "single_face.mp4").read_bytes()[:4000]  # an mp4 header, then nothing
    job = client.post("/v1/videos?name=broken.mp4", content=data).json()
    done = wait_for(lambda: (s := client.get(f"/v1/videos/{job['id']}").json())["status"] in ("done", "failed") and s,
                    30, "the broken job")
    assert done["status"] == "failed" and "broken.mp4" in done["error"] and "uploads" not in done["error"]
    assert client.get(f"/v1/videos/{job['id']}/result").status_code == 409


def test_the_video_queue_is_bounded(tmp_path, pyfeat_media):
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=Limits(max_queued_jobs=2))
    data = (pyfeat_media / "single_face.mp4").read_bytes()
    with TestClient(create_app(config)) as test_client:
        codes = [test_client.post("/v1/videos", content=data).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    queued = JobStore(tmp_path)._execute("SELECT id FROM jobs")[0]["id"]
    with TestClient(create_app(config)) as test_client:
        assert test_client.delete(f"/v1/videos/{queued}").status_code == 409  # not finished: kept
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir() if not p.name.endswith(".video")) == []


def test_api_key_is_required_when_set(keyed_client, pyfeat_media):
    data = (pyfeat_media / "single_face.jpg").read_bytes()
    assert keyed_client.get("/healthz").status_code == 200
    for headers in ({}, {"X-API-Key": "wrong"}):
        reply = keyed_client.post("/v1/analyze", content=data, headers=headers)
        assert reply.status_code == 401 and "API key" in reply.json()["message"]
    assert keyed_client.get("/v1/models", headers={"X-API-Key": "nope"}).status_code == 401
    assert keyed_client.post("/v1/analyze", content=data, headers={"X-API-Key": KEY}).status_code == 200
    assert keyed_client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_models_health_docs_page_and_no_cors_by_default(client):
    models = client.get("/v1/models").json()
    assert models["loaded"]["detector"] == "retinaface" and any(m["name"] == "mnv2-ferplus" for m in models["registered"])
    origins = {m["name"]: m["origin"] for m in models["registered"]}
    assert origins["retinaface"] == origins["mnv2-ferplus"] == "built-in" and isinstance(models["plugin_errors"], list)
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/analyze", "/v1/videos", "/v1/videos/{job_id}", "/v1/videos/{job_id}/result", "/v1/models"} <= set(paths)
    docs = client.get("/docs")  # Swagger UI from the swagger-ui-bundle package: nothing from a CDN
    assert docs.status_code == 200 and "https://" not in docs.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/openapi.json").json()["paths"].keys() == paths.keys()
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[1]
    reply = client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in reply.headers
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_sniffing_and_names():
    assert sniff(b"\xff\xd8\xff\xe0rest") == ("image", "jpeg")
    assert sniff(b"\x00\x00\x00\x20ftypisom") == ("video", "mp4/mov")
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ")[0] == "image"
    assert sniff(b"GIF is a word") is None and sniff(b"hello") is None
    assert display_name("../../etc/passwd", "x") == "passwd" and display_name("C:\\a\\b.jpg", "x") == "b.jpg"
    assert display_name("..", "fallback") == "fallback" and display_name(None, "fallback") == "fallback"
    assert not valid_job_id("../etc") and not valid_job_id("short") and valid_job_id("A" * 32)


# ------------------------------------------------------------------ the job store
def test_claims_are_atomic_across_processes(tmp_path):
    store = JobStore(tmp_path)
    ids = [store.new_id() for _ in range(40)]
    for job_id in ids:
        assert store.create(job_id, "clip.mp4", {}, max_pending=100) is not None
    script = ("import sys; from mien.serve.jobs import JobStore\n"
              "store = JobStore(sys.argv[1]); got = []\n"
              "while (job := store.claim(sys.argv[2])) is not None: got.append(job.id)\n"
              "print(' '.join(got))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    claimers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"host:{i}"], stdout=subprocess.PIPE,
                                 text=True, env=env) for i in range(3)]
    claimed = [job for process in claimers for job in process.communicate(timeout=60)[0].split()]
    assert sorted(claimed) == sorted(ids)  # every job taken exactly once


def test_claims_are_atomic_across_threads(tmp_path):
    store = JobStore(tmp_path)
    ids = [store.new_id() for _ in range(60)]
    for job_id in ids:
        store.create(job_id, "clip.mp4", {}, max_pending=100)
    claimed: list[str] = []

    def claim_all(owner: str) -> None:
        while (job := store.claim(owner)) is not None:
            claimed.append(job.id)
    threads = [threading.Thread(target=claim_all, args=(f"h:{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(ids)


def test_orphaned_jobs_are_requeued_then_failed_with_a_reason(tmp_path):
    import socket

    store = JobStore(tmp_path)
    job_id = store.new_id()
    store.create(job_id, "clip.mp4", {}, max_pending=10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_owner = f"{socket.gethostname()}:{dead.pid}:0123456789abcdef"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert store.claim(dead_owner).attempts == attempt
        assert store.recover_orphans("me:1", None) == [job_id]
        job = store.get(job_id)
        if attempt < MAX_ATTEMPTS:
            assert job.status == "queued"
    assert job.status == "failed" and "interrupted 3 times" in job.error
    alive_id = store.new_id()
    store.create(alive_id, "clip.mp4", {}, max_pending=10)
    store.claim(process_owner())
    assert store.recover_orphans("me:1", None) == []  # a live owner with a fresh heartbeat keeps its job
    # a live owner keeps its job even when a long step (probing, replaying) left its heartbeat stale;
    # an owner that cannot be checked (another host name) loses a stale job
    assert store.recover_orphans("me:1", None, stale_after=-1) == []
    other_id = store.new_id()
    store.create(other_id, "clip.mp4", {}, max_pending=10)
    store.claim("another-host:1:0123456789abcdef")
    assert store.recover_orphans("me:1", None) == []
    assert store.recover_orphans("me:1", None, stale_after=-1) == [other_id]


def test_a_graceful_stop_requeues_the_running_job_and_the_next_start_finishes_it(tmp_path, pyfeat_media):
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1))
    clip = (pyfeat_media / "single_face.mp4").read_bytes()
    with TestClient(create_app(config)) as test_client:
        job_id = test_client.post("/v1/videos", content=clip).json()["id"]
        wait_for(lambda: test_client.get(f"/v1/videos/{job_id}").json()["frames_done"] >= 5, 60, "the job to start")
    stopped = JobStore(tmp_path).get(job_id)
    assert stopped.status == "queued" and stopped.frames_done < 72, stopped  # not lost, not failed
    with TestClient(create_app(config)) as test_client:
        done = wait_for(lambda: (s := test_client.get(f"/v1/videos/{job_id}").json())["status"] in ("done", "failed")
                        and s, 60, "the resumed job")
        rows = test_client.get(f"/v1/videos/{job_id}/result").json()["rows"]
    assert done["status"] == "done" and done["attempts"] == 2 and done["faces"] == 72
    assert [r["frame"] for r in rows] == list(range(72)) and {r["track_id"] for r in rows} == {0}


def test_cors_only_for_the_origins_named(tmp_path):
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, cors_origins=("http://lab.example",))
    with TestClient(create_app(config)) as test_client:
        allowed = test_client.get("/healthz", headers={"Origin": "http://lab.example"})
        other = test_client.get("/healthz", headers={"Origin": "http://elsewhere.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://lab.example"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("option", [["--workers", "0"], ["--concurrency", "0"], ["--timeout", "-1"]])
def test_serve_usage_errors_exit_2(tmp_path, option, capsys):
    from mien.cli import main

    assert main(["serve", "--data-dir", str(tmp_path), *option]) == 2
    assert "must be" in capsys.readouterr().err


def test_images_beyond_the_waiting_room_get_429_and_the_others_200(tmp_path, pyfeat_media):
    from concurrent.futures import ThreadPoolExecutor

    limits = Limits(analyze_concurrency=1, max_waiting=1)
    data = (pyfeat_media / "single_face.jpg").read_bytes()
    with TestClient(create_app(ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=limits))) as c:
        pool, release = c.app.state.pool, threading.Event()
        analyze = pool.analyze

        def held(*args):  # the first image holds the only analysis thread until released
            release.wait(30)
            return analyze(*args)
        pool.analyze = held
        with ThreadPoolExecutor(2) as senders:
            admitted = [senders.submit(c.post, "/v1/analyze", content=data) for _ in range(2)]
            wait_for(lambda: pool.in_flight == 2, 10, "one image running and one waiting")
            refused = c.post("/v1/analyze", content=data)
            release.set()
            codes = [reply.result().status_code for reply in admitted]
    assert refused.status_code == 429 and "busy" in refused.json()["message"] and codes == [200, 200]


def test_a_video_over_the_pixel_limit_is_refused_at_upload(tmp_path, pyfeat_media):
    limits = Limits(max_pixels=100_000)  # the clip's frames are larger
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=limits)
    data = (pyfeat_media / "single_face.mp4").read_bytes()
    with TestClient(create_app(config)) as test_client:
        reply = test_client.post("/v1/videos?name=clip.mp4", content=data)
    assert reply.status_code == 422
    message = reply.json()["message"]
    assert message.startswith("clip.mp4: ") and "above the limit of 0.1 megapixels" in message
    assert str(tmp_path) not in message
    assert JobStore(tmp_path).pending() == 0 and list((tmp_path / "uploads").iterdir()) == []


def test_concurrent_uploads_hold_their_place_in_the_queue_before_the_body_is_read(tmp_path, pyfeat_media,
                                                                                 monkeypatch):
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    import mien.serve.app as app_module

    clip = (pyfeat_media / "single_face.mp4").read_bytes()
    receiving, release = [], threading.Event()

    async def slow_client(request, part, name, idle_timeout):  # the body arrives only once released
        receiving.append(part)
        deadline = time.monotonic() + 30
        while not release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        part.write_bytes(clip)
        return "clip.mp4"

    monkeypatch.setattr(app_module, "_receive_video", slow_client)
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=Limits(max_queued_jobs=2))
    with TestClient(create_app(config)) as test_client, ThreadPoolExecutor(6) as senders:
        replies = [senders.submit(test_client.post, "/v1/videos", content=b"body") for _ in range(6)]
        try:
            wait_for(lambda: sum(reply.done() for reply in replies) == 4, 10, "four uploads refused at once")
            assert len(receiving) == 2  # only the two admitted uploads ever reached the disk
        finally:
            release.set()
        codes = sorted(reply.result().status_code for reply in replies)
    assert codes == [202, 202, 429, 429, 429, 429]
    store = JobStore(tmp_path)
    assert store.pending() == 2 and store._execute("SELECT count(*) FROM reservations")[0][0] == 0


def test_a_failed_upload_gives_its_place_back_and_a_dead_uploader_loses_it(tmp_path, pyfeat_media):
    config = ServeConfig(data_dir=tmp_path, analysis=AnalyzerConfig(threads=1), video_worker=False, limits=Limits(max_queued_jobs=1))
    with TestClient(create_app(config)) as test_client:
        for _ in range(3):  # refused content: each time the place is given back
            assert test_client.post("/v1/videos", content=b"not a video at all").status_code == 415
        store = JobStore(tmp_path)
        store._execute("INSERT INTO reservations (id, owner, created) VALUES ('gone', ?, 0)",
                       (f"{process_owner().split(':')[0]}:999999999:deadbeef",))  # a process that has ended
        reply = test_client.post("/v1/videos", content=(pyfeat_media / "single_face.mp4").read_bytes())
    assert reply.status_code == 202 and store.pending() == 1


def test_openapi_documents_every_error_answer_and_the_csv_answers(client):
    paths = client.get("/openapi.json").json()["paths"]
    expected = {("/v1/analyze", "post"): {401, 413, 415, 422, 429, 504}, ("/v1/videos", "post"): {401, 408, 413, 415, 422, 429},
                ("/v1/videos/{job_id}", "get"): {401, 404}, ("/v1/videos/{job_id}", "delete"): {401, 404, 409},
                ("/v1/videos/{job_id}/result", "get"): {401, 404, 409}, ("/v1/models", "get"): {401}}
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert {str(code) for code in codes | {500}} <= set(responses), (path, method)
        for code in codes:
            schema = responses[str(code)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, code)
    for path in ("/v1/analyze", "/v1/videos/{job_id}/result"):
        method = "post" if path == "/v1/analyze" else "get"
        assert {"application/json", "text/csv"} <= set(paths[path][method]["responses"]["200"]["content"])


def test_options_and_405_name_every_method_of_the_path(client):
    job_path = "/v1/videos/" + "A" * 32
    reply = client.options(job_path)
    assert reply.status_code == 204 and {"GET", "DELETE", "OPTIONS"} <= set(reply.headers["allow"].split(", "))
    refused = client.put(job_path)
    assert refused.status_code == 405 and {"GET", "DELETE"} <= set(refused.headers["allow"].split(", "))
    assert client.options("/v1/analyze").headers["allow"] == "OPTIONS, POST"
    assert client.options("/no/such/path").status_code == 404


def test_avif_and_heic_are_images_for_both_routes(client, pyfeat_media):
    import io

    from PIL import Image

    encoded = io.BytesIO()
    Image.open(pyfeat_media / "single_face.jpg").save(encoded, "AVIF", quality=90)
    avif = encoded.getvalue()
    assert sniff(avif) == ("image", "avif")
    reply = client.post("/v1/analyze", files={"file": ("face.avif", avif, "image/avif")})
    assert reply.status_code == 200 and reply.json()["faces"] == 1
    refused = client.post("/v1/videos", files={"file": ("face.avif", avif, "video/mp4")})
    assert refused.status_code == 415 and "this is an image (avif), not a video" in refused.json()["message"]
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    reply = client.post("/v1/analyze", files={"file": ("face.heic", heic, "image/heic")})
    assert reply.status_code == 422 and "HEIC" in reply.json()["message"] and "video" not in reply.json()["message"]


def test_video_uploads_are_written_to_new_files_never_through_a_planted_link(tmp_path):
    from mien.serve.app import _create_exclusive

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / "job.mp4.part"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        _create_exclusive(planted)
    assert victim.read_text() == "precious"
    with _create_exclusive(tmp_path / "fresh.part") as handle:
        handle.write(b"video")
    assert (tmp_path / "fresh.part").read_bytes() == b"video"
