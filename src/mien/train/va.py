"""A valence/arousal head for users with VA-labelled faces (AffectNet, AFEW-VA): ``mien train va``.

mien ships no VA-trained model (no such data is available to it; the default valence/arousal is a
projection of the expression probabilities, see :mod:`mien.tasks.valence`). With AffectNet or AFEW-VA,
this trains a ridge-regression head on the frozen features of the shipped network (faces found and
aligned exactly as at inference), reports CCC/PCC/RMSE/SAGR on held-out data, and attaches the head to
the ONNX file as output ``va``; mien then reports the head's values and names its method in the output
metadata. Only numpy, onnx and onnxruntime are needed (no PyTorch).

    mien train va --dataset affectnet --root AffectNet/ --out runs/va --export mien-va.onnx
    mien analyze photos/ --expression mien-va.onnx -o results.csv
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mien.config import DEFAULT_EXPRESSION
from mien.eval.va import va_report
from mien.train.features import sample_features


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """Ridge regression on standardised features: returns weight (K, D), bias (K,), mean (D,), std (D,).

    Solved in the dual (N x N) when there are fewer samples than features, else in the primal."""
    mean = features.mean(0)
    std = features.std(0) + 1e-6
    x = (features - mean) / std
    target_mean = targets.mean(0)
    y = targets - target_mean
    if len(x) < x.shape[1]:
        weight = (x.T @ np.linalg.solve(x @ x.T + alpha * np.eye(len(x)), y)).T
    else:
        weight = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y).T
    return weight.astype(np.float32), target_mean.astype(np.float32), mean.astype(np.float32), std.astype(np.float32)


def predict_ridge(features: np.ndarray, weight, bias, mean, std) -> np.ndarray:
    return np.clip(((features - mean) / std) @ weight.T + bias, -1.0, 1.0)


def held_out_split(samples, dataset: str, share: float = 0.2) -> np.ndarray:
    """A boolean held-out mask: for AFEW-VA whole actors (no person on both sides), hashed stably; for
    AffectNet training data a stable hash of the image path (its official validation split is separate)."""
    keys = [s.subject or s.video or s.source for s in samples] if dataset == "afew-va" else [s.source for s in samples]
    return np.array([(zlib.crc32(k.encode()) % 1000) / 1000 < share for k in keys])


@dataclass
class VaRun:
    """``mien train va``: ``dataset`` (affectnet or afew-va) under ``root``; ``out``: run folder (features cache,
    report.json); ``base_model``: expression ONNX whose features the head reads; ``export``: write BASE + the
    VA head here; ``alpha``: ridge penalty on standardised features; ``limit``: at most N training samples."""

    dataset: str
    root: Path
    out: Path
    base_model: Path = field(default_factory=lambda: _default_base_model())
    export: Path | None = None
    alpha: float = 1000.0
    limit: int | None = None
    threads: int = 2


def _default_base_model() -> Path:
    """The shipped default expression model, whose frozen features the heads read."""
    from mien.models.expression import WEIGHTS_DIR

    return WEIGHTS_DIR / f"{DEFAULT_EXPRESSION}.onnx"


def run(args: "VaRun") -> None:
    """Fit the valence/arousal head and score it on the held-out split (writes report.json, optionally the model)."""
    from mien.datasets.va_layouts import read_va_dataset


    if args.dataset == "affectnet":
        train, held_out = read_va_dataset("affectnet", args.root, "train"), read_va_dataset("affectnet", args.root, "valid")
        held_out_name = "AffectNet validation"
    else:
        everything = read_va_dataset("afew-va", args.root)
        mask = held_out_split(everything, "afew-va")
        train = [s for s, m in zip(everything, mask) if not m]
        held_out = [s for s, m in zip(everything, mask) if m]
        held_out_name = "AFEW-VA held-out actors (20%, by actor)"
    train = train[:args.limit]
    if len(train) < 2 or not held_out:
        raise ValueError(f"{args.root}: need at least 2 training and 1 held-out sample, got {len(train)} and {len(held_out)}")
    x_train, ok_train = sample_features(args.base_model, train, args.threads)
    x_test, ok_test = sample_features(args.base_model, held_out, args.threads)
    targets = np.array([[s.valence, s.arousal] for s in train], np.float32)
    weight, bias, mean, std = fit_ridge(x_train[ok_train], targets[ok_train], args.alpha)
    predicted = predict_ridge(x_test, weight, bias, mean, std)
    predicted[~ok_test] = np.nan
    truth = np.array([[s.valence, s.arousal] for s in held_out], np.float32)
    report = va_report(predicted[:, 0], predicted[:, 1], truth[:, 0], truth[:, 1])
    report.update(dataset=args.dataset, train=int(ok_train.sum()), held_out=held_out_name, alpha=args.alpha)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"{held_out_name}: valence CCC {report['valence']['ccc']:.3f} RMSE {report['valence']['rmse']:.3f}; "
          f"arousal CCC {report['arousal']['ccc']:.3f} RMSE {report['arousal']['rmse']:.3f} "
          f"(trained on {report['train']} faces)")
    if args.export:
        import onnx

        from mien.models.heads import save_model, with_va_head

        metadata = {"mien.va_method": f"trained-head-{args.dataset}",
                    "mien.va_training_data": f"{args.dataset} ({report['train']} faces) under {args.root.name}",
                    "mien.va_heldout_ccc": json.dumps({"valence": report["valence"]["ccc"],
                                                       "arousal": report["arousal"]["ccc"]})}
        model = with_va_head(onnx.load(str(args.base_model)), weight, bias, mean, std, metadata)
        save_model(model, args.export)
        print(f"wrote {args.export}")


if __name__ == "__main__":  # python -m mien.train.va ...: the same as mien train va ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "va"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
