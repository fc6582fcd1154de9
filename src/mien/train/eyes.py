"""Eye openness without dlib: a head distilled from dlib's 68-point landmarks on FER+ faces.

The eye aspect ratio (EAR, Soukupová and Čech 2016) needs eyelid landmarks that mien's 5-point detector
does not give. The ``landmarks`` extra measures it with dlib; for the base install, this script teaches a
ridge-regression head on the shipped network's frozen features to predict dlib's EAR of each eye:

1. FER+ training faces are enlarged (4x, as the analysis of small faces would see them), found by mien's
   detector, and measured by dlib's 68-point predictor inside the box: EAR of the image-left and
   image-right eye (the teacher);
2. the same faces, aligned as at inference, give the frozen features (the student's input);
3. ridge regression, scored on held-out FER+ validation faces (correlation and mean absolute error against
   the teacher), is attached to the model file as output ``eyes`` (N, 2).

    mien train eyes --ferplus ../shared/datasets/ferplus --out runs/eyes --export model.onnx
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mien.config import DEFAULT_EXPRESSION

UPSCALE = 4


def teacher_ear(images: list[np.ndarray], detector, predictor) -> np.ndarray:
    """(N, 2) dlib EAR of the image-left and image-right eye of the largest face; NaN where none is found."""
    from mien.models.dlib68 import eye_openness

    out = np.full((len(images), 2), np.nan, np.float32)
    for i, image in enumerate(images):
        detections = detector.detect(image)
        if len(detections) == 0:
            continue
        areas = (detections.boxes[:, 2] - detections.boxes[:, 0]) * (detections.boxes[:, 3] - detections.boxes[:, 1])
        points = predictor.predict(image, detections.boxes[[int(np.argmax(areas))]])[0]
        out[i] = eye_openness(points)
    return out


def ferplus_faces(root: Path, split: str, limit: int, seed: int = 0) -> list[np.ndarray]:
    """``limit`` random FER+ faces of ``split`` as enlarged RGB images (48 px -> 192 px)."""
    from mien.datasets import ferplus

    data = ferplus.read_split(root, split)
    keep = np.flatnonzero(data.majority() >= 0)
    chosen = np.random.default_rng(seed).choice(keep, size=min(limit, len(keep)), replace=False)
    images = []
    for index in sorted(chosen):
        gray = ferplus.load_gray(root, data.names[index])
        big = cv2.resize(gray, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
        images.append(np.repeat(big[..., None], 3, axis=2))
    return images


@dataclass
class EyesRun:
    """``mien train eyes``: FER+ folder ``ferplus``; ``out``: run folder; ``base_model``: expression ONNX whose
    features the head reads; ``export``: write BASE + the eyes head here; ``train``/``valid``: FER+ faces
    used (the validation ones held out); ``alpha``: ridge penalty."""

    ferplus: Path
    out: Path
    base_model: Path = field(default_factory=lambda: _default_base_model())
    export: Path | None = None
    train: int = 6000
    valid: int = 1500
    alpha: float = 3000.0
    threads: int = 2


def _default_base_model() -> Path:
    """The shipped default expression model, whose frozen features the heads read (the eyes head too)."""
    from mien.models.expression import WEIGHTS_DIR

    return WEIGHTS_DIR / f"{DEFAULT_EXPRESSION}.onnx"


def run(args: "EyesRun") -> None:
    """Distil dlib's eye aspect ratio into a linear head (writes report.json, optionally the model)."""
    from mien.detect.retinaface import RetinaFaceDetector
    from mien.models.dlib68 import Dlib68Landmarks
    from mien.train.features import sample_features
    from mien.train.va import fit_ridge, predict_ridge

    args.out.mkdir(parents=True, exist_ok=True)
    detector, predictor = RetinaFaceDetector(threads=args.threads), Dlib68Landmarks()
    sets = {}
    for split, count in (("train", args.train), ("valid", args.valid)):
        cache = args.out / f"{split}.npz"
        if cache.is_file():
            sets[split] = dict(np.load(cache))
            continue
        images = ferplus_faces(args.ferplus, split, count)
        ear = teacher_ear(images, detector, predictor)
        features, found = sample_features(args.base_model, images, args.threads, read=np.asarray)
        keep = found & np.isfinite(ear).all(axis=1)
        sets[split] = {"features": features[keep], "ear": ear[keep]}
        np.savez(cache, **sets[split])
    weight, bias, mean, std = fit_ridge(sets["train"]["features"], sets["train"]["ear"], args.alpha)
    predicted = predict_ridge(sets["valid"]["features"], weight, bias, mean, std)
    truth = sets["valid"]["ear"]
    report = {"train_faces": len(sets["train"]["ear"]), "valid_faces": len(truth), "alpha": args.alpha,
              "pearson": [float(np.corrcoef(predicted[:, k], truth[:, k])[0, 1]) for k in range(2)],
              "mean_absolute_error": [float(np.abs(predicted[:, k] - truth[:, k]).mean()) for k in range(2)],
              "teacher_mean": truth.mean(0).tolist(), "teacher_std": truth.std(0).tolist()}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    if args.export:
        import onnx

        from mien.models.heads import attach_linear_head, save_model

        metadata = {"mien.eyes_method": "distilled-dlib-ear-v1",
                    "mien.eyes_training_data": f"dlib 68-point EAR of {report['train_faces']} FER+ training faces",
                    "mien.eyes_valid_pearson": json.dumps(report["pearson"])}
        model = attach_linear_head(onnx.load(str(args.base_model)), "eyes", weight, bias, mean, std, metadata,
                                   clip=(0.0, 1.0))
        save_model(model, args.export)
        print(f"wrote {args.export}")


if __name__ == "__main__":  # python -m mien.train.eyes ...: the same as mien train eyes ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "eyes"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
