"""Video throughput (frames/s, end to end: decode + detect + align + expression + tracking) and memory.

    python benchmarks/bench_video.py               # -> benchmarks/out/video.json
"""

from __future__ import annotations

import argparse
import time

from common import data_root, save

import mien

CLIPS = {"640x360": ("pyfeat", "WolfgangLanger_Pexels.mp4"), "512x512": ("liveportrait", "d3.mp4")}
LONG_CLIP = ("liveportrait", "d6.mp4")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def throughput(analyzer, path, detect_every: int) -> dict:
    analyzer.timings.clear()
    frames = faces = 0
    started = time.perf_counter()
    for result in analyzer.analyze_video(path, detect_every=detect_every):
        frames += 1
        faces += len(result)
    seconds = time.perf_counter() - started
    stages = {k: 1000 * v / frames for k, v in analyzer.timings.items()}
    return {"frames": frames, "faces": faces, "seconds": seconds, "fps": frames / seconds, "ms_per_frame": stages}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every-k", type=int, default=5, help="the detect-every setting compared with 1")
    args = parser.parse_args()
    root = data_root() / "media"
    analyzer = mien.Analyzer(threads=args.threads)
    for _ in analyzer.analyze_video(root / "pyfeat" / "single_face.mp4"):  # warm-up
        pass
    results = {}
    for label, (folder, name) in CLIPS.items():
        for k in (1, 2, 3, args.every_k):
            key = f"{label}/detect_every_{k}"
            results[key] = {"clip": f"{folder}/{name}", **throughput(analyzer, root / folder / name, k)}
            print(f"{key}: {results[key]['fps']:.1f} frames/s", flush=True)
    memory = {"clip": "/".join(LONG_CLIP), "rss_mb": {}}
    for index, _ in enumerate(analyzer.analyze_video(root.joinpath(*LONG_CLIP)), start=1):
        if index in (1, 100, 250, 500, 750, 1000) or index % 1008 == 0:
            memory["rss_mb"][index] = round(rss_mb(), 1)
    print("RSS by frame:", memory["rss_mb"])
    save("video", {"threads": args.threads, "every_k": args.every_k, "throughput": results, "memory": memory})


if __name__ == "__main__":
    main()
