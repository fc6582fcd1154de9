"""Speed and memory on 640x480 single-face photos with 2 CPU threads.

Per-stage milliseconds come from the Analyzer's own stage timers (in-process, after warm-up);
images/s and peak RSS from running the ``mien analyze`` command on a folder in a child process.

    python benchmarks/bench_speed.py               # -> benchmarks/out/speed.json
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import data_root, save

from mien.config import DEFAULT_EXPRESSION

PHOTOS = ["single_face.jpg", "0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]


def letterbox_640x480(image: np.ndarray) -> np.ndarray:
    scale = min(640 / image.shape[1], 480 / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    top, left = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def stage_times(images: list[np.ndarray], threads: int, rounds: int) -> dict:
    import mien

    analyzer = mien.Analyzer(threads=threads, batch_size=1)
    for image in images:  # warm-up
        analyzer.analyze(image)
    per_image: dict[str, list[float]] = {"detect": [], "align": [], "expression": [], "total": []}
    for _ in range(rounds):
        for image in images:
            before = dict(analyzer.timings)
            started = time.perf_counter()
            result = analyzer.analyze(image)
            total = time.perf_counter() - started
            assert len(result) == 1, "benchmark photos must hold exactly one face"
            for stage in ("detect", "align", "expression"):
                per_image[stage].append(analyzer.timings[stage] - before.get(stage, 0.0))
            per_image["total"].append(total)
    return {stage: {"median_ms": 1000 * statistics.median(v), "p90_ms": 1000 * float(np.percentile(v, 90))}
            for stage, v in per_image.items()}


def cli_throughput(folder: Path, count: int, threads: int) -> dict:
    output = folder.parent / "out.csv"
    command = [sys.executable, "-m", "mien.cli", "analyze", str(folder), "--output", str(output),
               "--threads", str(threads), "--quiet", "--overwrite"]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds, "peak_rss_mb": peak_rss_mb,
            "command": "mien analyze FOLDER --output out.csv --threads %d" % threads}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--copies", type=int, default=40, help="copies of each photo in the CLI folder")
    args = parser.parse_args()
    media = data_root() / "media" / "pyfeat"
    images = [letterbox_640x480(cv2.imread(str(media / name))[..., ::-1].copy()) for name in PHOTOS]
    stages = stage_times(images, args.threads, args.rounds)
    for stage, value in stages.items():
        print(f"{stage:10s} {value['median_ms']:.2f} ms (p90 {value['p90_ms']:.2f})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for i, image in enumerate(images):
            cv2.imwrite(str(folder / f"img{i}_0.jpg"), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            for copy in range(1, args.copies):
                shutil.copy(folder / f"img{i}_0.jpg", folder / f"img{i}_{copy}.jpg")
        cli = cli_throughput(folder, len(images) * args.copies, args.threads)
    print(f"CLI: {cli['images_per_s']:.1f} images/s, peak RSS {cli['peak_rss_mb']:.0f} MB")
    save("speed", {"threads": args.threads, "image_size": "640x480", "stages": stages, "cli": cli,
                   "env_threads": os.environ.get("MIEN_THREADS"), "expression_model": DEFAULT_EXPRESSION})


if __name__ == "__main__":
    main()
