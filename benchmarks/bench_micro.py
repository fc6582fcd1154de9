"""Micro-expressions: flow accuracy on known motion, recognition latency, spotting on real clips, and the
MEGC2019 leave-one-subject-out scores.

    python benchmarks/bench_micro.py                 # -> benchmarks/out/micro.json (LOSO: reuses micro_loso.json)
    python benchmarks/bench_micro.py --loso          # also re-runs the LOSO protocol (3 seeds, ~30+ min on 2 cores)

The LOSO numbers come from ``mien evaluate micro --root ../shared/datasets/megc2019 --seeds 0 1 2
--output benchmarks/out/micro_loso.json``; ``--loso`` runs exactly that.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import cv2
import numpy as np

from common import OUT, REPO, data_root, save

from mien.align.similarity import CropSpec, warp_face
from mien.io.images import read_image
from mien.micro.flow import optical_flow
from mien.micro.recognize import FLOW_CROP_SIZE, MEGC_TEMPLATE, MicroRecognizer
from mien.micro.spot import Spotter
from mien.registry import create

PHOTOS = ["single_face.jpg", "0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]
CLIPS = ["d0.mp4", "d3.mp4", "d6.mp4", "d9.mp4", "d10.mp4", "d11.mp4", "d12.mp4", "d18.mp4", "d19.mp4"]


def remap(image: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, xx - fx, yy - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def motions(size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Known displacement fields (pixels) of the kinds micro-expressions produce, at the 112 px crop."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)

    def bump(cx, cy, sigma):
        return np.exp(-((xx - cx * size) ** 2 + (yy - cy * size) ** 2) / (2 * sigma ** 2)).astype(np.float32)

    corners = bump(0.29, 0.716, 8), bump(0.71, 0.716, 8)
    brows = bump(0.3, 0.2, 10) + bump(0.7, 0.2, 10)
    return {
        "head shift (1.5, -0.7) px": (np.full((size, size), 1.5, np.float32), np.full((size, size), -0.7, np.float32)),
        "smile: mouth corners out and up 2 px": (2 * (corners[1] - corners[0]), -1.5 * (corners[0] + corners[1])),
        "brow raise 2 px": (np.zeros((size, size), np.float32), -2 * brows),
        "frown: brows together and down 1 px": (1.0 * (bump(0.3, 0.25, 9) - bump(0.7, 0.25, 9)), 1.0 * brows),
    }


def flow_accuracy(root) -> dict:
    detector = create("retinaface", "detector", threads=2)
    crops = []
    for name in PHOTOS:
        image = read_image(root / "media" / "pyfeat" / name)
        detections = detector.detect(image)
        crops.append(warp_face(image, detections.landmarks[0], CropSpec(FLOW_CROP_SIZE, MEGC_TEMPLATE))[0])
    results = {}
    inner = slice(8, FLOW_CROP_SIZE - 8)
    for method in ("farneback", "dis"):
        rows, times = {}, []
        for label, (fx, fy) in motions(FLOW_CROP_SIZE).items():
            errors, moving_errors = [], []
            for crop in crops:
                started = time.perf_counter()
                flow = optical_flow(crop, remap(crop, fx, fy), method)
                times.append(time.perf_counter() - started)
                error = np.hypot(flow[..., 0] - fx, flow[..., 1] - fy)[inner, inner]
                moving = np.hypot(fx, fy)[inner, inner] > 0.5
                errors.append(float(error.mean()))
                moving_errors.append(float(error[moving].mean()))
            rows[label] = {"epe": float(np.mean(errors)), "epe_moving": float(np.mean(moving_errors))}
        results[method] = {"motions": rows, "mean_epe_moving": float(np.mean([r["epe_moving"] for r in rows.values()])),
                           "ms_per_pair": 1000 * float(np.median(times))}
    return results


def recognition_latency(root) -> dict:
    recognizer = MicroRecognizer(threads=2)
    onset = read_image(root / "media" / "pyfeat" / "single_face.jpg")
    apex = remap(onset, np.zeros(onset.shape[:2], np.float32), np.zeros(onset.shape[:2], np.float32))
    recognizer.recognize(onset, apex)
    times = []
    for _ in range(30):
        started = time.perf_counter()
        recognizer.recognize(onset, apex)
        times.append(time.perf_counter() - started)
    return {"image": f"single_face.jpg ({onset.shape[1]}x{onset.shape[0]})", "threads": 2,
            "median_ms": 1000 * float(np.median(times)), "p90_ms": 1000 * float(np.percentile(times, 90))}


def spotting(root) -> dict:
    spotter = Spotter(threads=2)
    rows = {}
    for name in CLIPS:
        path = root / "media" / "liveportrait" / name
        started = time.perf_counter()
        result = spotter.spot_video(path)
        seconds = time.perf_counter() - started
        rows[name] = {"frames": result.frames, "fps": result.fps, "seconds": seconds,
                      "frames_per_second": result.frames / seconds,
                      "micro": sum(i.kind == "micro" for i in result.intervals),
                      "macro": sum(i.kind == "macro" for i in result.intervals)}
        if name == "d6.mp4":
            from mien.workflows.plots import plot_spotting

            plot_spotting(result, REPO / "docs" / "spotting_d6.png")
    return rows


def run_loso() -> None:
    for cache in OUT.glob("micro_loso.seed*.json"):  # a benchmark run starts from scratch
        cache.unlink()
    command = [sys.executable, "-m", "mien", "evaluate", "micro", "--root", str(data_root() / "megc2019"),
               "--seeds", "0", "1", "2", "--output", str(OUT / "micro_loso.json")]
    subprocess.run(command, check=True, cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loso", action="store_true", help="re-run the 3-seed LOSO evaluation first")
    args = parser.parse_args()
    if args.loso or not (OUT / "micro_loso.json").exists():
        run_loso()
    root = data_root()
    loso = json.loads((OUT / "micro_loso.json").read_text())
    save("micro", {"flow": flow_accuracy(root), "recognition": recognition_latency(root), "spotting": spotting(root),
                   "loso": {"summary": loso["summary"], "config": loso["config"], "seeds": loso["seeds"],
                            "seconds": [r["seconds"] for r in loso["runs"]],
                            "seed_ensemble": seed_ensemble(root, loso)}})


def seed_ensemble(root, loso: dict) -> dict:
    """Scores of the per-fold ensemble of the seeds' models (their probabilities averaged), from the same runs."""
    from mien.datasets.megc2019 import read_labels
    from mien.train.micro import micro_scores

    samples = read_labels(root / "megc2019")
    probabilities = np.mean([[p["probabilities"] for p in run["predictions"]] for run in loso["runs"]], axis=0)
    return micro_scores(samples, np.array([s.label for s in samples]), probabilities.argmax(1))


if __name__ == "__main__":
    main()


def micro_section(micro: dict) -> list[str]:
    """BENCHMARKS.md section for micro-expressions (rendered by run_all.py)."""
    loso, summary = micro["loso"], micro["loso"]["summary"]
    names = {"composite": "composite (all 442)", "casme2": "CASME II", "samm": "SAMM", "smic": "SMIC-HS"}
    lines = [
        "## Micro-expressions (`python benchmarks/bench_micro.py`)",
        "",
        "MEGC2019 composite protocol: leave-one-subject-out over the 68 subjects of CASME II + SAMM + SMIC-HS,",
        "3 classes (negative, positive, surprise), onset-to-apex flow input (u, v, strain at 28x28), a fixed",
        f"number of epochs per fold ({loso['config']['epochs']}; no epoch is chosen on the held-out subject). UF1 and UAR",
        "are computed on the pooled predictions of all folds, per seed; mean ± standard deviation over seeds",
        f"{', '.join(map(str, loso['seeds']))}. Command: `mien evaluate micro --root ../shared/datasets/megc2019 "
        "--seeds 0 1 2 --output benchmarks/out/micro_loso.json` "
        f"({np.mean(loso['seconds']) / 60:.0f} min per seed here, measured while other jobs shared the 2 cores).",
        "",
        "| set | samples | UF1 | UAR |",
        "|---|---:|---:|---:|",
        *[f"| {names[k]} | {v['n']} | {v['uf1']['mean']:.4f} ± {v['uf1']['std']:.4f} | "
          f"{v['uar']['mean']:.4f} ± {v['uar']['std']:.4f} |" for k, v in summary.items()],
        f"| ensemble of the {len(loso['seeds'])} seeds' models per fold (same runs) | "
        f"{loso['seed_ensemble']['composite']['n']} | {loso['seed_ensemble']['composite']['uf1']:.4f} | "
        f"{loso['seed_ensemble']['composite']['uar']:.4f} |",
        "",
        "Published on the same protocol, for reference: LBP-TOP baseline about 0.59 UF1, STSTNet about 0.74,",
        "HTNet 0.86 (HTNet's released code picks, per held-out subject, the epoch that scores best on that",
        "subject, which mien does not do).",
        "",
        "The 0.80 target is missed. Tried so far: the network above with mirror/shift augmentation, label",
        "smoothing and class weighting (these numbers); averaging the three seeds' models (the ensemble row).",
        "Wider networks (16 channels) were too slow for 68 folds x 3 seeds on this 2-core machine and were not",
        "evaluated to the end. Next: region patches around the eyes and mouth",
        "(as HTNet), flow computed from raw frames at a higher resolution, training on a GPU.",
        "",
        "Optical flow on known motion: real faces (5 photos) aligned to 112 px and warped by displacement",
        "fields of micro-expression size; end-point error in pixels, all pixels / moving pixels only:",
        "",
        "| motion | " + " | ".join(micro["flow"]) + " |",
        "|---|" + "---:|" * len(micro["flow"]),
    ]
    first = next(iter(micro["flow"].values()))
    for motion in first["motions"]:
        cells = [f"{m['motions'][motion]['epe']:.3f} / {m['motions'][motion]['epe_moving']:.3f}" for m in micro["flow"].values()]
        lines.append(f"| {motion} | " + " | ".join(cells) + " |")
    lines.append("| ms per 112 px pair | " + " | ".join(f"{m['ms_per_pair']:.1f}" for m in micro["flow"].values()) + " |")
    recognition = micro["recognition"]
    lines += [
        "",
        f"Recognition from a pair of frames (`mien micro recognize`; {recognition['image']}, detection on the onset",
        f"frame, alignment, flow, strain, model): median **{recognition['median_ms']:.1f} ms**, p90 "
        f"{recognition['p90_ms']:.1f} ms on {recognition['threads']} threads.",
        "",
        "Spotting (`mien micro spot`) on the expressive LivePortrait clips (no ground truth exists for them; the",
        "counts show what the spotter reports, the plot of d6 is `docs/spotting_d6.png`):",
        "",
        "| clip | frames | fps | micro | macro | frames/s processed |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {name} | {r['frames']} | {r['fps']:.0f} | {r['micro']} | {r['macro']} | {r['frames_per_second']:.0f} |"
          for name, r in micro["spotting"].items()],
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| MEGC2019 composite UF1 >= 0.80 | {summary['composite']['uf1']['mean']:.4f} | "
        f"{'met' if summary['composite']['uf1']['mean'] >= 0.80 else '**missed**'} |",
        f"| MEGC2019 composite UAR >= 0.80 | {summary['composite']['uar']['mean']:.4f} | "
        f"{'met' if summary['composite']['uar']['mean'] >= 0.80 else '**missed**'} |",
        f"| recognition from a pair of frames < 50 ms, 2 threads | {recognition['median_ms']:.1f} ms | "
        f"{'met' if recognition['median_ms'] < 50 else '**missed**'} |",
        "",
    ]
    return lines
