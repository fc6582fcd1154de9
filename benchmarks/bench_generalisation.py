"""How each expression model does on faces outside its training data (issue 13): every shipped model, and
an open reference model for comparison, on four test sets, through mien's own pipeline.

Test sets (none of them is ever used to choose anything):

- ``RAF-DB test``: the official 3,068 test faces (in-the-wild colour, 100x100 as released), 7 classes.
  ``detect``: the image as it is goes through detection and alignment; ``whole-image``: ``--whole-image``.
- ``FER+ test``: official majority protocol, 8 classes; ``framed`` (the 48x48 crop enlarged 3x into a
  640x480 photo and detected) and ``whole-image``.
- ``FER2013 PrivateTest``: the same images with the original 7-class labels; ``framed``.
- ``CK+ zero-shot``: all 981 CK+48 peak frames, 7 classes (no expression model is trained on CK+);
  ``framed`` and ``whole-image``.

A cell scores only the classes the test set has (the model's probabilities restricted to them and
renormalised). A face the detector misses counts as wrong. RAF-DB's manual annotations (gender, race, age)
are not in ``../shared/datasets``, so no per-demographic table can be made here.

The reference is OpenCV Zoo's RAF-DB MobileFaceNet (``../shared/teachers``), wrapped in mien's input
convention by ``mien.train.facenet_expression`` (train extra); it is not shipped.

    python benchmarks/bench_generalisation.py            # computes the cells missing from out/generalisation.json
    python benchmarks/bench_generalisation.py --force    # recomputes every cell
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
from common import OUT, REPO, data_root, save

REFERENCE = "opencv-zoo-rafdb (reference)"
CELLS = [("RAF-DB test", "detect"), ("RAF-DB test", "whole-image"), ("FER+ test", "framed"),
         ("FER+ test", "whole-image"), ("FER2013 PrivateTest", "framed"), ("CK+ zero-shot", "framed"),
         ("CK+ zero-shot", "whole-image")]


def test_sets(data: Path) -> dict[str, tuple[list, np.ndarray, list[str]]]:
    """name -> (samples, canonical labels, the classes the set has)."""
    from mien.datasets import ferplus
    from mien.datasets.layouts import Sample, read_ckplus, read_rafdb
    from mien.eval.expression import ferplus_official
    from mien.schema import EXPRESSIONS

    root = data / "ferplus"
    official = ferplus_official(root)
    plus = [Sample(str(root / n), int(label), pixels=lambda n=n: ferplus.load_gray(root, n))
            for n, label in zip(official.names, official.labels)]
    original = ferplus.read_fer2013_labels(root)
    names = [n for n in ferplus.read_split(root, "test").names if n in original]
    fer2013 = [Sample(str(root / n), EXPRESSIONS.index(original[n]), pixels=lambda n=n: ferplus.load_gray(root, n))
               for n in names]
    raf = read_rafdb(data / "rafdb" / "basic", "test")
    ck = read_ckplus(data / "ckplus")
    without = lambda *drop: [c for c in EXPRESSIONS if c not in drop]  # noqa: E731
    return {"RAF-DB test": (raf, np.array([s.label for s in raf]), without("contempt")),
            "FER+ test": (plus, np.array([s.label for s in plus]), list(EXPRESSIONS)),
            "FER2013 PrivateTest": (fer2013, np.array([s.label for s in fer2013]), without("contempt")),
            "CK+ zero-shot": (ck, np.array([s.label for s in ck]), without("neutral"))}


def cell(probabilities: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    from mien.eval.expression import expression_report
    from mien.schema import EXPRESSIONS

    local = np.array([classes.index(EXPRESSIONS[label]) for label in labels])
    report = expression_report(probabilities, local, classes)
    keep = ("n", "accuracy", "uar", "macro_f1", "faces_not_found", "per_class", "confusion")
    return {k: report[k] for k in keep if k in report} | {"classes": classes}


def reference_model(folder: Path) -> Path:
    from mien.train.facenet_expression import TEACHER, export_network, teacher_network

    teacher = REPO.parent / "shared" / "teachers" / TEACHER.name
    return export_network(teacher_network(teacher), folder / "reference.onnx",
                          {"mien.note": "OpenCV Zoo RAF-DB MobileFaceNet, 7 classes; contempt never predicted"})


def models(folder: Path) -> dict[str, Path]:
    from mien.models.expression import WEIGHTS_DIR
    from mien.registry import list_models

    shipped = {spec.name: WEIGHTS_DIR / spec.options["model"] for spec in list_models("expression")}
    return {**shipped, REFERENCE: reference_model(folder)}


def digest(path: Path) -> str:
    """Fingerprint of what the cells measure: the model's calibrated expression probabilities on fixed
    random crops (attaching or retraining AU / eye heads leaves it, and the cells, unchanged)."""
    from mien.models.expression import ExpressionModel

    model = ExpressionModel(path, threads=1)
    crops = np.random.default_rng(0).integers(0, 256, (4, model.crop.size, model.crop.size, 3), dtype=np.uint8)
    probabilities = np.round(model.predict(crops).astype(np.float64), 4)
    return hashlib.sha256(probabilities.tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--models", nargs="+", help="only these (names as in the table)")
    parser.add_argument("--verify", nargs="*", metavar="CELL",
                        help="recompute the stored cells whose name contains one of these words (all: no word) and "
                             "compare them with the stored ones; writes nothing, exits 1 on any difference")
    args = parser.parse_args()
    from mien.io.images import read_image

    data = data_root()
    path = OUT / "generalisation.json"
    previous = json.loads(path.read_text()) if path.exists() and not args.force else {"models": {}}
    background = read_image(data / "media" / "pyfeat" / "free-mountain-vector-01.jpg")
    sets = test_sets(data)
    results = previous["models"]
    if args.verify is not None:
        raise SystemExit(verify(results, args.models, args.verify, sets, background))
    with tempfile.TemporaryDirectory() as folder:
        available = models(Path(folder))
        for name in args.models or list(available):  # in the order asked for
            model = available[name]
            entry = results.get(name, {})
            if entry.get("sha256") != digest(model):
                entry = {"sha256": digest(model), "cells": {}}
            for test_name, mode in CELLS:
                key = f"{test_name} | {mode}"
                if key in entry["cells"]:
                    continue
                entry["cells"][key] = measure(model, sets[test_name], mode, background)
                print(f"{name}: {key}: {entry['cells'][key]['accuracy']:.4f}", flush=True)
                save_entry(path, name, entry)  # incremental: an interrupted run keeps its cells


def measure(model: Path, test_set: tuple, mode: str, background: np.ndarray) -> dict:
    """One cell: ``model`` (an ONNX path) on one test set, through mien's pipeline in ``mode``."""
    import mien
    from mien.config import WHOLE_IMAGE
    from mien.eval.expression import predict_samples

    samples, labels, classes = test_set
    analyzer = mien.Analyzer(expression=str(model), threads=2, detector=WHOLE_IMAGE if mode == "whole-image" else None)
    return cell(predict_samples(analyzer, samples, mode, background), labels, classes)


def verify(results: dict, names: list[str] | None, words: list[str], sets: dict, background: np.ndarray) -> int:
    """Recompute stored cells (of ``names``, whose key contains one of ``words``) and compare them with the
    stored results: 0 when every recomputed cell equals its stored one (accuracy, per-class recall, confusion)."""
    with tempfile.TemporaryDirectory() as folder:
        available = models(Path(folder))
        differences = 0
        for name in names or list(results):
            for key, stored in results[name]["cells"].items():
                if words and not any(word in key for word in words):
                    continue
                test_name, mode = key.split(" | ")
                again = measure(available[name], sets[test_name], mode, background)
                same = all(again[field] == stored[field] for field in ("n", "accuracy", "per_class", "confusion"))
                differences += not same
                print(f"{name}: {key}: stored {stored['accuracy']:.4f}, now {again['accuracy']:.4f}: "
                      f"{'identical' if same else 'DIFFERENT'}", flush=True)
    return int(differences > 0)


def save_entry(path: Path, name: str, entry: dict) -> None:
    """Write one model's cells into the shared results file, re-read under a lock, so that runs for other
    models at the same time keep theirs."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = json.loads(path.read_text())["models"] if path.exists() else {}
        current[name] = entry
        save("generalisation", {"models": current})


def generalisation_section(report: dict) -> list[str]:
    lines = [
        "## Faces outside the training data (`python benchmarks/bench_generalisation.py`)",
        "",
        "Every shipped expression model and an open reference model (OpenCV Zoo's RAF-DB MobileFaceNet, not",
        "shipped) through mien's pipeline. RAF-DB test and CK+ are faces from other sources than FER2013; CK+ is",
        "zero-shot for every model (no expression model is trained on it). Accuracy / mean class accuracy (UAR) /",
        "macro-F1; a face the detector misses counts as wrong. RAF-DB's manual annotations (gender, race, age) are",
        "not available here, so there is no per-demographic table.",
        "",
        "| model | " + " | ".join(f"{t} ({m})" for t, m in CELLS) + " |",
        "|---|" + "---:|" * len(CELLS),
    ]
    for name, entry in report["models"].items():
        cells = []
        for test_name, mode in CELLS:
            r = entry["cells"].get(f"{test_name} | {mode}")
            cells.append(f"{r['accuracy']:.3f} / {r['uar']:.3f} / {r['macro_f1']:.3f}" if r else "-")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "Per-class recall on RAF-DB test (detect):", "",
              "| model | " + " | ".join(_classes(report, "RAF-DB test | detect")) + " |",
              "|---|" + "---:|" * len(_classes(report, "RAF-DB test | detect"))]
    for name, entry in report["models"].items():
        r = entry["cells"].get("RAF-DB test | detect")
        if r:
            lines.append(f"| `{name}` | " + " | ".join(f"{v['recall']:.2f}" for v in r["per_class"].values()) + " |")
    return lines + [""]


def _classes(report: dict, key: str) -> list[str]:
    for entry in report["models"].values():
        if key in entry["cells"]:
            return list(entry["cells"][key]["per_class"])
    return []


if __name__ == "__main__":
    main()


def targets_table(report: dict, models: dict, speed: dict, video: dict, default: str, fast: str,
                  accurate: str | None = None) -> list[str]:
    """Issue 13's targets, each met or **missed**, from the benchmark outputs (BENCHMARKS.md and README); the
    accuracy targets also for the ``accurate`` variant when it was measured."""
    def acc(model: str, key: str) -> float | None:
        r = report["models"].get(model, {}).get("cells", {}).get(key)
        return r["accuracy"] if r else None

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**missed**")

    def shown(value: float | None, pattern: str = "{:.3f}") -> str:
        return "-" if value is None else pattern.format(value)

    rows = []
    raf = report["models"].get(default, {}).get("cells", {}).get("RAF-DB test | detect")
    raf_acc = raf["accuracy"] if raf else None
    rows.append((f"RAF-DB test accuracy, through detection (`{default}`)", shown(raf_acc), ">= 0.92",
                 verdict(None if raf_acc is None else raf_acc >= 0.92)))
    if raf:
        worst = min(raf["per_class"].items(), key=lambda item: item[1]["recall"])
        rows.append(("RAF-DB test, lowest class recall", f"{worst[1]['recall']:.2f} ({worst[0]})", ">= 0.60",
                     verdict(worst[1]["recall"] >= 0.60)))
        rows.append(("RAF-DB test, mean class accuracy", f"{raf['uar']:.3f}", "reported", "-"))
    plus = [acc(default, f"FER+ test | {m}") for m in ("framed", "whole-image")]
    plus_best = max((p for p in plus if p is not None), default=None)
    rows.append(("FER+ test, 8 classes, official protocol (better of framed / whole-image)", shown(plus_best),
                 ">= 0.90", verdict(None if plus_best is None else plus_best >= 0.90)))
    fer2013 = acc(default, "FER2013 PrivateTest | framed")
    rows.append(("FER2013 PrivateTest, 7 classes, framed", shown(fer2013), ">= 0.74",
                 verdict(None if fer2013 is None else fer2013 >= 0.74)))
    for mode in ("framed", "whole-image"):
        ck = acc(default, f"CK+ zero-shot | {mode}")
        rows.append((f"CK+ zero-shot, all 981, 7 classes, {mode}", shown(ck), ">= 0.92",
                     verdict(None if ck is None else ck >= 0.92)))
    ck_framed, ck_whole = acc(default, "CK+ zero-shot | framed"), acc(default, "CK+ zero-shot | whole-image")
    if ck_framed is not None and ck_whole is not None:
        rows.append(("`--whole-image` vs framed-and-detected on CK+ (points)", f"{100 * (ck_whole - ck_framed):+.1f}",
                     "within 2", verdict(abs(ck_whole - ck_framed) <= 0.02)))
    for key in ("RAF-DB test | detect", "CK+ zero-shot | framed", "CK+ zero-shot | whole-image"):
        mine, theirs = acc(default, key), acc(model_reference(), key)
        if mine is not None and theirs is not None:
            rows.append((f"lead over the open reference model, {key.replace(' | ', ', ')} (points)",
                         f"{100 * (mine - theirs):+.1f}", ">= +10", verdict(mine - theirs >= 0.10)))
    latency = models.get("models", {}).get(default, {}).get("batch1_median_ms")
    rows.append((f"`{default}` classifier, batch 1, 2 threads", shown(latency, "{:.2f} ms"), "<= 6 ms",
                 verdict(None if latency is None else latency <= 6)))
    if speed.get("expression_model", "mnv2-ferplus") == default:
        total = speed["stages"]["total"]["median_ms"]
        rows.append(("whole pipeline per single-face 640x480 photo", f"{total:.1f} ms", "<= 25 ms", verdict(total <= 25)))
        fps = video["throughput"]["640x360/detect_every_1"]["fps"]
        rows.append(("video 640x360, detection every frame", f"{fps:.1f} frames/s", ">= 30", verdict(fps >= 30)))
    fast_ms = models.get("models", {}).get(fast, {}).get("batch1_median_ms")
    fast_raf = acc(fast, "RAF-DB test | detect")
    rows.append((f"fast variant `{fast}`: classifier latency / RAF-DB test",
                 f"{shown(fast_ms, '{:.2f} ms')} / {shown(fast_raf)}", "<= 1.5 ms and >= 0.85",
                 verdict(None if fast_ms is None or fast_raf is None else fast_ms <= 1.5 and fast_raf >= 0.85)))
    if accurate and report["models"].get(accurate):
        ms = models.get("models", {}).get(accurate, {}).get("batch1_median_ms")
        for label, key, goal in (("RAF-DB test, through detection", "RAF-DB test | detect", 0.92),
                                 ("FER+ test, 8 classes, whole-image", "FER+ test | whole-image", 0.90),
                                 ("FER2013 PrivateTest, framed", "FER2013 PrivateTest | framed", 0.74),
                                 ("CK+ zero-shot, framed", "CK+ zero-shot | framed", 0.92),
                                 ("CK+ zero-shot, whole-image", "CK+ zero-shot | whole-image", 0.92)):
            value = acc(accurate, key)
            rows.append((f"accurate variant `{accurate}` ({shown(ms, '{:.1f} ms')}): {label}", shown(value),
                         f">= {goal:.2f}", verdict(None if value is None else value >= goal)))
        cells = report["models"][accurate].get("cells", {})
        if "RAF-DB test | detect" in cells:
            worst = min(cells["RAF-DB test | detect"]["per_class"].items(), key=lambda item: item[1]["recall"])
            rows.append(("accurate variant: RAF-DB test, lowest class recall", f"{worst[1]['recall']:.2f} ({worst[0]})",
                         ">= 0.60", verdict(worst[1]["recall"] >= 0.60)))
        theirs = acc(model_reference(), "RAF-DB test | detect")
        mine = acc(accurate, "RAF-DB test | detect")
        if mine is not None and theirs is not None:
            rows.append(("accurate variant: lead over the open reference model, RAF-DB test, detect (points)",
                         f"{100 * (mine - theirs):+.1f}", ">= +10", verdict(mine - theirs >= 0.10)))
    return ["| target (issue 13) | measured | goal | verdict |", "|---|---:|---|---|",
            *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]]


def model_reference() -> str:
    return REFERENCE
