"""Ablation of the training methods on FER+ (issue 3): each row adds or swaps one method.

Every row is a full training run of the fast network (``mobilenetv2_small``, 48-pixel aligned crops,
8 epochs, seed 0) with ``mien train expression``; the runs live in ``runs/ablation/<row>`` and a finished
run is reused (an interrupted one resumes), so re-running this script only trains what is missing. The
first run also builds the FER+ landmark cache (mien's own detector on every image).

Decisions use FER+ *validation* only (the plurality label the trainer logs); FER+ test accuracy under the
official majority protocol is reported next to it, for information, on the same aligned crops.

    python benchmarks/bench_ablation.py            # two rows at a time, one core each
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from common import KEEP_FLAG, REPO, data_root, keep_previous, save

RUNS_DIR = REPO / "runs" / "ablation"
LANDMARKS = REPO / "data_cache" / "ferplus_landmarks.npz"
EPOCHS = 8
COMMON = ["--backbone", "mobilenetv2_small", "--size", "48", "--epochs", str(EPOCHS), "--batch-size", "64",
          "--lr", "0.002", "--seed", "0", "--threads", "1"]
JOBS = 2  # two single-threaded runs at once use 2 cores better than one run with 2 threads
TEACHER = REPO / "src" / "mien" / "models" / "weights" / "mnv2-ferplus.onnx"
# row -> (what changes, extra arguments); each row is compared with the one it names as its base
ROWS = {
    "hard-noaug": ("majority one-hot labels, no augmentation", ["--hard-labels", "--no-augment"]),
    "hard": ("+ augmentation (crop/rotation/flip, resolution, photometric, erasing)", ["--hard-labels"]),
    "ldl": ("vote distributions instead of one-hot (label-distribution learning)", []),
    "ldl-mixup": ("+ mixup (alpha 0.2)", ["--mixup", "0.2"]),
    "ldl-eac": ("+ Erasing Attention Consistency (weight 1)", ["--eac", "1.0"]),
    "ldl-scn": ("+ Self-Cure Network (importance, rank regularisation, relabelling from epoch 3)",
                ["--scn", "--scn-relabel-from", "3"]),
    "ldl-distill": ("+ distillation from mnv2-ferplus (targets = 0.5 votes + 0.5 teacher)",
                    ["--teacher", str(TEACHER), "--distill", "0.5"]),
}
# The noisy-label method where labels are noisiest: the original FER2013 labels, fine-tuning the shipped
# model's checkpoint for 3 epochs, with and without SCN (the first run is also bench_cross.py's FER2013 model).
FER2013_COMMON = ["--dataset", "fer2013", "--init", "runs/expr_mnv2_64/best.pt", "--epochs", "3", "--lr", "0.0005",
                  "--size", "64", "--batch-size", "64", "--seed", "0", "--threads", "2"]
FER2013_ROWS = {"fer2013_ft": ("fine-tuned on the FER2013 labels", []),
                "fer2013_ft_scn": ("+ Self-Cure Network (relabelling from epoch 2)", ["--scn", "--scn-relabel-from", "2"])}
BASE = {"hard": "hard-noaug", "ldl": "hard", "ldl-mixup": "ldl", "ldl-eac": "ldl", "ldl-scn": "ldl",
        "ldl-distill": "ldl"}


def command(row: str, root: Path) -> list[str]:
    return ["mien", "train", "expression", "--root", str(root), "--landmarks", str(LANDMARKS.relative_to(REPO)),
            "--out", str((RUNS_DIR / row).relative_to(REPO)), *COMMON, *ROWS[row][1]]


def ensure_landmarks(root: Path) -> None:
    if not LANDMARKS.exists():
        subprocess.run([sys.executable, "-m", "mien.train.ferplus_landmarks", "--root", str(root),
                        "--out", str(LANDMARKS)], check=True, cwd=REPO)


def run_finished(row: str) -> bool:
    metrics = RUNS_DIR / row / "metrics.jsonl"
    return metrics.exists() and len(metrics.read_text().splitlines()) >= EPOCHS


def fer2013_command(row: str, root: Path) -> list[str]:
    return ["mien", "train", "expression", "--root", str(root), "--landmarks", str(LANDMARKS.relative_to(REPO)),
            "--out", f"runs/{row}", *FER2013_COMMON, *FER2013_ROWS[row][1]]


def predict_test_crops(checkpoint: Path, root: Path, names: list[str]) -> tuple[np.ndarray, dict]:
    """A trained checkpoint's probabilities (N, 8) on FER test faces aligned as the trainer aligns them."""
    from mien.align.similarity import CropSpec
    from mien.train.expression import predict
    from mien.train.expression_data import ferplus_crops, load_landmarks
    from mien.train.export import load_checkpoint_model

    model, saved = load_checkpoint_model(checkpoint)
    landmarks, _ = load_landmarks(LANDMARKS)
    crop = CropSpec(int(saved["config"]["size"]), np.asarray(saved["config"]["template"]))
    return predict(model, ferplus_crops(root, names, crop, landmarks)), saved


def fer2013_accuracy(checkpoint: Path, root: Path) -> dict:
    """FER2013 PrivateTest (original 7 labels) on aligned crops, argmax over the 7 classes."""
    from mien.datasets import ferplus
    from mien.schema import EXPRESSIONS

    original = ferplus.read_fer2013_labels(root)
    names = [n for n in ferplus.read_split(root, "test").names if n in original]
    labels = np.array([EXPRESSIONS.index(original[n]) for n in names])
    columns = [EXPRESSIONS.index(c) for c in EXPRESSIONS if c != "contempt"]
    probabilities, saved = predict_test_crops(checkpoint, root, names)
    predicted = np.asarray(columns)[probabilities[:, columns].argmax(1)]
    return {"privatetest_accuracy": float((predicted == labels).mean()), "test_images": len(names),
            "epoch": int(saved["epoch"]), "publictest_accuracy": float(saved["valid_accuracy"])}


def test_accuracy(checkpoint: Path, root: Path) -> dict:
    """FER+ test, official majority protocol, on the aligned crops the trainer builds."""
    from mien.datasets import ferplus

    split = ferplus.read_split(root, "test")
    labels = split.official_majority()
    keep = np.flatnonzero(labels >= 0)
    probabilities, saved = predict_test_crops(checkpoint, root, [split.names[i] for i in keep])
    accuracy = float((probabilities.argmax(1) == labels[keep]).mean())
    return {"test_official_accuracy": accuracy, "test_images": int(len(keep)), "epoch": int(saved["epoch"]),
            "valid_accuracy": float(saved["valid_accuracy"])}


def train_missing_rows(root: Path) -> None:
    """Train the rows without a finished run, ``JOBS`` at a time (unfinished runs resume)."""
    pending = [row for row in ROWS if not run_finished(row)]
    running: list[tuple[str, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < JOBS:
            row = pending.pop(0)
            cmd = command(row, root) + (["--resume"] if (RUNS_DIR / row / "last.pt").exists() else [])
            print(" ".join(cmd), flush=True)
            (RUNS_DIR / row).mkdir(parents=True, exist_ok=True)
            with open(RUNS_DIR / row / "train.log", "a") as log:
                running.append((row, subprocess.Popen([str(Path(sys.executable).parent / "mien"), *cmd[1:]],
                                                      stdout=log, stderr=subprocess.STDOUT, cwd=REPO)))
        row, process = running.pop(0)
        if process.wait() != 0:
            raise SystemExit(f"training row {row!r} failed; see {RUNS_DIR / row / 'train.log'}")


def main() -> None:
    import json

    root = data_root() / "ferplus"
    untrained = [row for row in ROWS if not run_finished(row)] + [
        row for row in FER2013_ROWS if not (REPO / "runs" / row / "best.pt").exists()]
    if KEEP_FLAG in sys.argv and untrained:
        keep_previous("ablation", f"{len(untrained)} of its training runs ({', '.join(untrained[:3])}, ...) are not "
                                  "on this machine; run python benchmarks/bench_ablation.py to train them (hours)")
    ensure_landmarks(root)
    train_missing_rows(root)
    results = {}
    for row, (change, _) in ROWS.items():
        cmd = command(row, root)
        log = [json.loads(line) for line in (RUNS_DIR / row / "metrics.jsonl").read_text().splitlines()]
        shown = " ".join(cmd).replace(str(root), "../shared/datasets/ferplus").replace(str(REPO) + "/", "")
        results[row] = {"change": change, "base": BASE.get(row), "command": shown,
                        "minutes": round(sum(r["seconds"] for r in log) / 60, 1),
                        **test_accuracy(RUNS_DIR / row / "best.pt", root)}
        print(row, results[row], flush=True)
    fer2013 = {}
    for row, (change, _) in FER2013_ROWS.items():
        cmd = fer2013_command(row, root)
        if not (REPO / "runs" / row / "best.pt").exists():
            subprocess.run([str(Path(sys.executable).parent / "mien"), *cmd[1:]], check=True, cwd=REPO)
        log = [json.loads(line) for line in (REPO / "runs" / row / "metrics.jsonl").read_text().splitlines()]
        shown = " ".join(cmd).replace(str(root), "../shared/datasets/ferplus")
        fer2013[row] = {"change": change, "command": shown, "minutes": round(sum(r["seconds"] for r in log) / 60, 1),
                        "relabelled": sum(r.get("relabelled", 0) for r in log),
                        **fer2013_accuracy(REPO / "runs" / row / "best.pt", root)}
        print(row, fer2013[row], flush=True)
    save("ablation", {"network": f"mobilenetv2_small, 48 px, {EPOCHS} epochs, seed 0", "rows": results,
                      "fer2013": fer2013})


def ablation_section(ablation: dict) -> list[str]:
    rows = ablation["rows"]
    lines = [
        "## Training methods, ablation (`python benchmarks/bench_ablation.py`)",
        "",
        f"FER+ 8 classes; every row is one full training run ({ablation['network']}) that changes one thing",
        "against the row named in `vs`. `valid` is FER+ validation accuracy (plurality label; the only number",
        "decisions were made on), `Δ valid` the change against `vs`; `test` is FER+ test accuracy under the",
        "official majority protocol on the same aligned crops, reported for information. One seed per row:",
        "differences under about 0.5 points are within seed noise. The command of each row is in",
        "`benchmarks/out/ablation.json`. `wall minutes`: training time as logged; the rows ran side by side on",
        "the 2 cores, so they compare the runs' lengths only roughly, not their costs.",
        "",
        "| row | change | vs | valid | Δ valid | test | wall minutes |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        base = rows.get(r["base"]) if r["base"] else None
        delta = f"{r['valid_accuracy'] - base['valid_accuracy']:+.4f}" if base else ""
        lines.append(f"| `{name}` | {r['change']} | {r['base'] or ''} | {r['valid_accuracy']:.4f} | {delta} | "
                     f"{r['test_official_accuracy']:.4f} | {r['minutes']} |")
    fer2013 = ablation.get("fer2013")
    if fer2013:
        lines += [
            "",
            "The noisy-label method on the noisiest labels: the original FER2013 labels (7 classes), fine-tuning the",
            "checkpoint of `mnv2-ferplus` (MobileNetV2, 64 px) for 3 epochs; the epoch is selected on PublicTest,",
            "PrivateTest is reported (aligned crops). Commands in `benchmarks/out/ablation.json`.",
            "",
            "| run | change | PublicTest | PrivateTest | relabellings | wall minutes |",
            "|---|---|---:|---:|---:|---:|",
            *[f"| `{name}` | {r['change']} | {r['publictest_accuracy']:.4f} | {r['privatetest_accuracy']:.4f} | "
              f"{r['relabelled']} | {r['minutes']} |" for name, r in fer2013.items()],
        ]
    return lines + [""]


if __name__ == "__main__":
    main()
