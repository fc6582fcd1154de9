"""``mien serve`` under load: requests/s and latency for single-face 640x480 JPEGs at 1, 4 and 16 clients.

A real server (child process, 127.0.0.1, 1 thread per model, 2 images analysed at once) is sent
``POST /v1/analyze`` by N client threads on the same machine, each with its own keep-alive connection;
every answer is checked (200, exactly one face). Then the web page's browser test is run and its
screenshot copied to docs/serve_page.png.

    python benchmarks/bench_serve.py               # -> benchmarks/out/serve.json, docs/serve_page.png
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageChops
from bench_speed import PHOTOS, letterbox_640x480
from common import REPO, data_root, save

LEVELS = (1, 4, 16)


def jpeg_photos() -> list[bytes]:
    from mien.io.images import read_image

    media = data_root() / "media" / "pyfeat"
    encoded = []
    for name in PHOTOS:
        image = letterbox_640x480(read_image(media / name))
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        encoded.append(buffer.tobytes())
    return encoded


def run_level(url: str, photos: list[bytes], clients: int, requests_total: int) -> dict:
    """``clients`` threads share ``requests_total`` requests; latency per request, throughput overall."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests_total))
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                started = time.perf_counter()
                reply = client.post("/v1/analyze", content=photos[index % len(photos)])
                seconds = time.perf_counter() - started
                with lock:
                    latencies.append(seconds)
                    if reply.status_code != 200 or reply.json()["faces"] != 1:
                        failures.append(f"{reply.status_code}: {reply.text[:200]}")

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} of {requests_total} requests failed at {clients} clients: {failures[0]}")
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": requests_total, "seconds": elapsed, "requests_per_s": requests_total / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(statistics.fmean(ms))}


def measure(server_args: list[str], photos: list[bytes], levels: tuple[int, ...], per_client: int,
            threads: int) -> list[dict]:
    sys.path.insert(0, str(REPO / "tests" / "apps"))  # the LocalServer harness lives with the tests, not in the wheel
    from local_server import LocalServer

    with tempfile.TemporaryDirectory() as folder:
        with LocalServer(Path(folder) / "data", server_args, threads=threads) as server:
            run_level(server.url, photos, 2, 20)  # warm-up: first-call allocations, connection set-up
            return [run_level(server.url, photos, clients, max(40, per_client * clients)) for clients in levels]


def screenshot() -> str:
    """Run the browser test; copy the screenshot it saved to docs/serve_page.png."""
    with tempfile.TemporaryDirectory() as artifacts:
        env = {**os.environ, "MIEN_TEST_ARTIFACTS": artifacts}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(REPO / "tests" / "apps" / "test_serve_server.py"), "-k", "web_page"], check=True, env=env, cwd=REPO)
        target = REPO / "docs" / "serve_page.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page = Image.open(Path(artifacts) / "serve_page.png").convert("RGB")
        content = ImageChops.difference(page, Image.new("RGB", page.size, "white")).getbbox()
        page = page.crop((0, 0, page.width, min(page.height, content[3] + 20)))  # no empty window below
        # 256 colours: a third of the size, same look (the page is mostly flat colour)
        page.quantize(256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    return str(target.relative_to(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-client", type=int, default=20, help="requests per client at each level")
    parser.add_argument("--threads", type=int, default=1, help="threads per model in the server")
    parser.add_argument("--concurrency", type=int, default=2, help="images the server analyses at once")
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args()
    photos = jpeg_photos()
    load_before = os.getloadavg()[0]  # other work on the machine skews these figures: recorded beside them
    server_args = ["--concurrency", str(args.concurrency)]
    results = measure(server_args, photos, LEVELS, args.per_client, args.threads)
    two_workers = measure(server_args + ["--workers", "2"], photos, (16,), args.per_client, args.threads)
    for row in results + two_workers:
        print(f"{row['clients']:>3} clients: {row['requests_per_s']:.1f} requests/s, p50 {row['p50_ms']:.0f} ms, "
              f"p95 {row['p95_ms']:.0f} ms")
    payload = {"command": "python benchmarks/bench_serve.py", "threads": args.threads,
               "concurrency": args.concurrency, "image": "640x480 JPEG, one face (5 photos in turn)",
               "levels": results, "two_workers": two_workers,
               "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}}
    if not args.no_screenshot:
        payload["screenshot"] = screenshot()
    save("serve", payload)


if __name__ == "__main__":
    main()
