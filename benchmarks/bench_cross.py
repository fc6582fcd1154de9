"""Protocols beyond the shipped model's own test set (issue 3): CK+ 10-fold fine-tuning, FER2013 7-class
training, and the cross-dataset matrix (train on A, test on B), all through mien's pipeline.

Models (trained by the commands below when their runs are missing; finished runs are reused):

- ``FER+``: the shipped ``mnv2-ferplus`` (FER+ votes of FER2013 Training).
- ``FER2013``: ``mnv2-ferplus`` fine-tuned on the ORIGINAL 7-class labels of FER2013 Training, selected on
  PublicTest (``runs/fer2013_ft``).
- ``CK+``: ``mnv2-ferplus`` fine-tuned on CK+ folds 2-10 (fold 1 of the 10-fold run, ``runs/ckplus_cv/fold0``).

Test sets, each crop enlarged 3x into a 640x480 frame and found by the detector (``detected``, as in
``bench_accuracy.py``): FER+ test (official majority, 8 classes), FER2013 PrivateTest (original labels, the
same images), CK+48 (all 981 peak frames, 7 classes). A cell scores only the classes both datasets have
(CK+ has no neutral, FER2013 no contempt); test images of other classes are left out of that cell.

    python benchmarks/bench_cross.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from common import KEEP_FLAG, REPO, data_root, keep_previous, save

FERPLUS_CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
TRAIN_CLASSES = {"FER+": FERPLUS_CLASSES, "FER2013": tuple(c for c in FERPLUS_CLASSES if c != "contempt"),
                 "CK+": tuple(c for c in FERPLUS_CLASSES if c != "neutral")}
INIT = "runs/expr_mnv2_64/best.pt"  # the checkpoint mnv2-ferplus was exported from
FER2013_RUN = ["mien", "train", "expression", "--dataset", "fer2013", "--root", "{data}/ferplus", "--landmarks",
               "data_cache/ferplus_landmarks.npz", "--init", INIT, "--out", "runs/fer2013_ft", "--epochs", "3",
               "--lr", "0.0005", "--size", "64", "--batch-size", "64", "--seed", "0", "--threads", "2"]
CKPLUS_RUN = ["mien", "train", "expression", "--dataset", "ckplus", "--root", "{data}/ckplus", "--init", INIT,
              "--cv", "10", "--epochs", "10", "--lr", "0.0005", "--batch-size", "32", "--out", "runs/ckplus_cv"]


def ensure_run(command: list[str], done: Path, data: Path) -> str:
    text = " ".join(command).replace("{data}", "../shared/datasets")
    if not done.exists():
        if not (REPO / INIT).exists():
            raise SystemExit(f"{INIT} missing: train the default model first (see models/weights/mnv2-ferplus.md)")
        args = [a.replace("{data}", str(data)) for a in command]
        subprocess.run([str(Path(sys.executable).parent / "mien"), *args[1:]], check=True, cwd=REPO)
    return text


def exported(checkpoint: Path) -> Path:
    from mien.train.export import export_onnx

    out = checkpoint.with_suffix(".onnx")
    if not out.exists() or out.stat().st_mtime < checkpoint.stat().st_mtime:
        export_onnx(checkpoint, out)
    return out


def test_sets(data: Path) -> dict[str, tuple[list, np.ndarray, tuple[str, ...]]]:
    """name -> (samples, canonical labels, classes the set has)."""
    from mien.datasets import ferplus
    from mien.datasets.layouts import Sample, read_ckplus
    from mien.eval.expression import ferplus_official
    from mien.schema import EXPRESSIONS

    root = data / "ferplus"
    split = ferplus.read_split(root, "test")
    samples = [Sample(str(root / n), -1, pixels=lambda n=n: ferplus.load_gray(root, n)) for n in split.names]
    official = ferplus_official(root)
    index = {n: i for i, n in enumerate(split.names)}
    plus_labels = np.full(len(split.names), -1)
    plus_labels[[index[n] for n in official.names]] = official.labels
    original = ferplus.read_fer2013_labels(root)
    fer2013_labels = np.array([EXPRESSIONS.index(original[n]) if n in original else -1 for n in split.names])
    ck = read_ckplus(data / "ckplus")
    return {"FER+ test": (samples, plus_labels, FERPLUS_CLASSES),
            "FER2013 PrivateTest": (samples, fer2013_labels, TRAIN_CLASSES["FER2013"]),
            "CK+ (981)": (ck, np.array([s.label for s in ck]), TRAIN_CLASSES["CK+"])}


def cell(probabilities: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    from mien.eval.expression import expression_report
    from mien.schema import EXPRESSIONS

    keep = np.isin(labels, [EXPRESSIONS.index(c) for c in classes])
    local = np.array([classes.index(EXPRESSIONS[label]) for label in labels[keep]])
    report = expression_report(probabilities[keep], local, classes)
    return {k: report[k] for k in ("n", "accuracy", "uar", "macro_f1", "faces_not_found")} | {"classes": classes}


def main() -> None:
    import mien
    from mien.eval.expression import predict_samples
    from mien.io.images import read_image

    data = data_root()
    if KEEP_FLAG in sys.argv and not all(done.exists() for done in (REPO / "runs/fer2013_ft/best.pt",
                                                                    REPO / "runs/ckplus_cv/cv_report.json")):
        keep_previous("cross", "its fine-tuning runs (runs/fer2013_ft, runs/ckplus_cv) are not on this machine; "
                               "run python benchmarks/bench_cross.py to train them (hours on 2 cores)")
    commands = {"FER2013": ensure_run(FER2013_RUN, REPO / "runs/fer2013_ft/best.pt", data),
                "CK+": ensure_run(CKPLUS_RUN, REPO / "runs/ckplus_cv/cv_report.json", data)}
    models = {"FER+": "mnv2-ferplus", "FER2013": str(exported(REPO / "runs/fer2013_ft/best.pt")),
              "CK+": str(exported(REPO / "runs/ckplus_cv/fold0/best.pt"))}
    background = read_image(data / "media" / "pyfeat" / "free-mountain-vector-01.jpg")
    sets = test_sets(data)
    matrix: dict[str, dict[str, dict]] = {}
    fer2013_whole = None
    for train_name, model in models.items():
        analyzer = mien.Analyzer(expression=model, threads=2)
        predictions: dict[int, np.ndarray] = {}  # FER+ test and FER2013 PrivateTest share their images
        matrix[train_name] = {}
        for test_name, (samples, labels, test_classes) in sets.items():
            if train_name == "CK+" and test_name.startswith("CK+"):
                continue  # in-domain CK+ is the 10-fold protocol below
            key = id(samples)
            if key not in predictions:
                predictions[key] = predict_samples(analyzer, samples, "framed", background)
            classes = [c for c in FERPLUS_CLASSES if c in TRAIN_CLASSES[train_name] and c in test_classes]
            matrix[train_name][test_name] = cell(predictions[key], labels, classes)
            print(train_name, "->", test_name, matrix[train_name][test_name]["accuracy"], flush=True)
        if train_name == "FER2013":
            whole = mien.Analyzer(expression=model, threads=2, detector="whole-image")
            samples, labels, test_classes = sets["FER2013 PrivateTest"]
            fer2013_whole = cell(predict_samples(whole, samples, "whole-image"), labels, list(TRAIN_CLASSES["FER2013"]))
    ckplus = json.loads((REPO / "runs/ckplus_cv/cv_report.json").read_text())
    fer2013_log = [json.loads(line) for line in (REPO / "runs/fer2013_ft/metrics.jsonl").read_text().splitlines()]
    save("cross", {
        "commands": commands, "matrix": matrix,
        "fer2013": {"detected": matrix["FER2013"]["FER2013 PrivateTest"], "whole-image": fer2013_whole,
                    "publictest_accuracy_by_epoch": [r["valid_accuracy"] for r in fer2013_log],
                    "train_minutes": round(sum(r["seconds"] for r in fer2013_log) / 60, 1)},
        "ckplus_cv": {k: ckplus[k] for k in ("n", "accuracy", "uar", "macro_f1", "fold_accuracy", "fold_accuracy_std",
                                             "per_class", "epochs")},
    })


def cross_section(cross: dict) -> list[str]:
    matrix, ck, fer = cross["matrix"], cross["ckplus_cv"], cross["fer2013"]
    tests = ["FER+ test", "FER2013 PrivateTest", "CK+ (981)"]
    per_class = " ".join(f"{name} {v['recall']:.2f}," for name, v in ck["per_class"].items()).rstrip(",")
    lines = [
        "## CK+ 10-fold, FER2013 7-class, cross-dataset (`python benchmarks/bench_cross.py`)",
        "",
        "**CK+, subject-independent 10 folds (the widely used `folds_10.txt`), fine-tuned**: "
        f"`{cross['commands']['CK+']}`.",
        f"Each fold starts from the FER+ checkpoint of `mnv2-ferplus`, trains {ck['epochs']} epochs on the other 9 folds",
        "and predicts its held-out fold with the last epoch (nothing is selected on the held-out fold); the",
        "pooled predictions of the 10 folds (aligned crops, as the pipeline aligns them) give:",
        "",
        f"- accuracy **{ck['accuracy']:.4f}** over {ck['n']} images (target 0.97: "
        f"{'met' if ck['accuracy'] >= 0.97 else '**missed**'}), UAR {ck['uar']:.4f}, macro-F1 {ck['macro_f1']:.4f};",
        f"  per-fold accuracy {min(ck['fold_accuracy']):.3f}-{max(ck['fold_accuracy']):.3f} (std {ck['fold_accuracy_std']:.3f});",
        f"- per-class recall: {per_class}.",
        "",
        f"**FER2013, 7 original classes**: `{cross['commands']['FER2013']}` (fine-tunes `mnv2-ferplus` on the",
        "original labels of Training; the epoch is selected on PublicTest, accuracy by epoch "
        + ", ".join(f"{a:.4f}" for a in fer["publictest_accuracy_by_epoch"]) + f"; {fer['train_minutes']} CPU minutes).",
        f"PrivateTest accuracy: **{fer['detected']['accuracy']:.4f}** through detection, "
        f"**{fer['whole-image']['accuracy']:.4f}** with `--whole-image` (target 0.73: "
        f"{'met' if max(fer['detected']['accuracy'], fer['whole-image']['accuracy']) >= 0.73 else '**missed**'}).",
        "",
        "**Cross-dataset** (rows: training labels; columns: test set; through detection; each cell scores the",
        "classes both have; `n` images). Off-diagonal cells are zero-shot: the model never saw that dataset's",
        "labels (FER+ and FER2013 share their images, so those two cells measure label protocols, not new faces).",
        "The faces sit at other random places in the frames than in the accuracy table above, so the FER+ cell",
        "differs from it slightly (the detector misses a few different faces).",
        "",
        "| trained on | " + " | ".join(tests) + " |",
        "|---|" + "---:|" * len(tests),
    ]
    for train_name, row in matrix.items():
        cells = []
        for test in tests:
            if test in row:
                r = row[test]
                cells.append(f"{r['accuracy']:.4f} (n {r['n']}, {len(r['classes'])} cl.)")
            else:
                cells.append(f"{ck['accuracy']:.4f} (10-fold)")
        lines.append(f"| {train_name} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    main()
