"""Video throughput (frames/s, end to end: decode + detect + align + expression + tracking) and memory.

    python benchmarks/bench_video.py               # -> benchmarks/out/video.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import data_root, save

import mien

CLIPS = {"640x360": ("pyfeat", "WolfgangLanger_Pexels.mp4"), "512x512": ("liveportrait", "d3.mp4")}
LONG_CLIP = ("liveportrait", "d6.mp4")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def throughput(analyzer, path, detect_every: int) -> tuple[dict, list]:
    """Frames/s and per-stage ms of one pass; also returns the per-frame results (small) for agreement."""
    analyzer.timings.clear()
    frames = faces = 0
    kept = []
    started = time.perf_counter()
    for result in analyzer.analyze_video(path, detect_every=detect_every):
        frames += 1
        faces += len(result)
        kept.append((result.landmarks.copy(), result.expression_probs.copy(), result.face_size.copy()))
    seconds = time.perf_counter() - started
    stages = {k: 1000 * v / frames for k, v in analyzer.timings.items()}
    return {"frames": frames, "faces": faces, "seconds": seconds, "fps": frames / seconds,
            "ms_per_frame": stages}, kept


def agreement(reference: list, other: list) -> dict:
    """How far faces found with detection every k frames are from detecting on every frame: landmark
    distance in eye distances, and the mean absolute change of the 8 probabilities (frames where both
    found exactly one face)."""
    landmark, probability, missing = [], [], 0
    for (ref_points, ref_probs, ref_size), (points, probs, _) in zip(reference, other):
        if len(ref_points) != len(points):
            missing += abs(len(ref_points) - len(points))
            continue
        if len(points) == 1:
            landmark.append(float(np.abs(points - ref_points).max() / ref_size[0]))
            probability.append(float(np.abs(probs - ref_probs).mean()))
    return {"landmark_error_median": float(np.median(landmark)) if landmark else None,
            "probability_change_mean": float(np.mean(probability)) if probability else None,
            "face_count_differences": missing}


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
        reference = None
        for k in (1, 2, 3, args.every_k):
            key = f"{label}/detect_every_{k}"
            measured, kept = throughput(analyzer, root / folder / name, k)
            reference = reference or kept
            results[key] = {"clip": f"{folder}/{name}", **measured, **agreement(reference, kept)}
            print(f"{key}: {results[key]['fps']:.1f} frames/s, landmark error "
                  f"{results[key]['landmark_error_median']}", flush=True)
    memory = {"clip": "/".join(LONG_CLIP), "rss_mb": {}}
    for index, _ in enumerate(analyzer.analyze_video(root.joinpath(*LONG_CLIP)), start=1):
        if index in (1, 100, 250, 500, 750, 1000) or index % 1008 == 0:
            memory["rss_mb"][index] = round(rss_mb(), 1)
    print("RSS by frame:", memory["rss_mb"])
    save("video", {"threads": args.threads, "every_k": args.every_k, "throughput": results, "memory": memory,
                   "expression_model": analyzer.expression_name})


if __name__ == "__main__":
    main()
