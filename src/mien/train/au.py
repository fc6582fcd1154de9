"""Action-unit heads on the expression network's features, trained on CK+ (and optionally DISFA/BP4D).

The expression backbone (trained on FER+) is kept frozen: its last feature map already encodes the
facial configuration, and freezing it leaves the shipped expression outputs bit-identical. An AU head
(one logistic output per AU) reads the flattened (C, h, w) feature map, taken from the ONNX file itself
(no PyTorch checkpoint needed); the exported file runs backbone, expression head and AU head in ONE
forward pass (:mod:`mien.models.heads`).

Data: CK+48 peak frames with their sequence's FACS codes (``au_emotion_labels.csv``: occurrence at the
peak), plus FER+ training faces that 9 or 10 of 10 annotators called neutral as all-AUs-absent examples
(CK+48 has no neutral frames, and without them a head learns that every face shows some AU). Evaluation
is subject-independent: CK+'s 10 subject-grouped folds; neutral FER+ faces are only ever training data.

    mien train au --ckplus ../shared/datasets/ckplus --ferplus ../shared/datasets/ferplus --out runs/au \\
        [--export model.onnx]        # = python -m mien.train.au ...
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.align.similarity import CropSpec, estimate_similarity
from mien.config import DEFAULT_EXPRESSION
from mien.datasets.au_layouts import read_ckplus_aus
from mien.datasets.ferplus import confident_neutral_ferplus
from mien.eval.au import au_scores
from mien.train.configs import AuConfig
from mien.train.features import onnx_features
from mien.schema import AUS  # the shipped AUs: the 14 the issue names plus CK+'s with >= 27 positive sequences


# ------------------------------------------------------------------------------------------- data
def ckplus_au_samples(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """CK+48 images with AU codes: paths, (N, K) labels, (N,) fold (0-9, subject-grouped)."""
    from mien.datasets.layouts import ckplus_folds

    codes, folds = read_ckplus_aus(root), ckplus_folds(root)
    paths, labels, fold_of = [], [], []
    for path in sorted((Path(root) / "CK+48").glob("*/*.png")):
        sequence = "_".join(path.stem.split("_")[:2])
        if sequence in codes and sequence in folds:
            paths.append(path)
            labels.append(codes[sequence])
            fold_of.append(folds[sequence])
    return paths, np.array(labels), np.array(fold_of)


def align_gray_crops(images: list[np.ndarray], crop: CropSpec, detector) -> tuple[np.ndarray, np.ndarray]:
    """Detect and align 48x48-style crops as training does; returns (N, S, S) uint8 and a found mask."""
    from mien.train.ferplus_landmarks import detect_crop_landmarks

    out = np.empty((len(images), crop.size, crop.size), np.uint8)
    found = np.zeros(len(images), bool)
    for i, gray in enumerate(images):
        points, _ = detect_crop_landmarks(detector, gray)
        if np.isfinite(points).all():
            matrix = estimate_similarity(points, crop.template_pixels())
            out[i] = cv2.warpAffine(gray, matrix, (crop.size, crop.size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            found[i] = True
        else:
            out[i] = cv2.resize(gray, (crop.size, crop.size), interpolation=cv2.INTER_LINEAR)
    return out, found


def onnx_feature_data(model_path: Path, ckplus: Path, ferplus: Path, threads: int = 2, max_neutral: int = 3000) -> dict:
    """Aligned CK+ crops (and their mirror images) and confidently neutral FER+ faces -> the frozen
    features of a mien expression ONNX file (the shipped one by default)."""
    import onnx

    from mien.datasets import ferplus as ferplus_data
    from mien.detect.retinaface import RetinaFaceDetector
    from mien.models.expression import read_expression_spec
    from mien.models.heads import session_from_model, with_features_output

    model = onnx.load(str(model_path))
    crop, _ = read_expression_spec({p.key: p.value for p in model.metadata_props}, str(model_path))
    session = session_from_model(with_features_output(model), threads)
    detector = RetinaFaceDetector(threads=threads, score_threshold=0.5, min_size=64)
    paths, labels, folds = ckplus_au_samples(ckplus)
    ck_crops, ck_found = align_gray_crops([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths], crop, detector)
    names = confident_neutral_ferplus(ferplus)
    names = sorted(np.random.default_rng(0).choice(names, size=min(len(names), max_neutral), replace=False))
    neutral_crops, _ = align_gray_crops([ferplus_data.load_gray(ferplus, n) for n in names], crop, detector)
    return {  # mirrored crops are training augmentation (AU labels are bilateral)
        "ck_map": onnx_features(session, ck_crops), "ck_map_mirrored": onnx_features(session, ck_crops[:, :, ::-1].copy()),
        "ck_labels": labels, "ck_folds": folds, "ck_found": ck_found, "ck_names": np.array([p.name for p in paths]),
        "neutral_map": onnx_features(session, neutral_crops),
    }


# ------------------------------------------------------------------------------------------- head
class AuHead(nn.Module):
    """Logistic outputs over the (flattened) feature map; exported inside the multi-task ONNX."""

    def __init__(self, dim: int, num_aus: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, num_aus)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


def train_head(features: np.ndarray, labels: np.ndarray, config: AuConfig,
               mean: np.ndarray | None = None, std: np.ndarray | None = None) -> tuple[AuHead, np.ndarray, np.ndarray]:
    """Full-batch AdamW on standardised features with per-AU positive weighting; returns head, mean, std.

    Labels may be NaN ("not coded"): those entries carry no loss, so datasets coding different AUs mix."""
    torch.manual_seed(config.seed)
    mean = features.mean(0) if mean is None else mean
    std = features.std(0) + 1e-6 if std is None else std
    x = torch.from_numpy((features - mean) / std).float()
    coded = torch.from_numpy(~np.isnan(labels)).float()
    y = torch.from_numpy(np.nan_to_num(labels)).float()
    positives = y.sum(0).clamp(min=1)
    pos_weight = ((coded.sum(0) - positives) / positives).clamp(min=1, max=20)
    head = AuHead(x.shape[1], y.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        loss = F.binary_cross_entropy_with_logits(head(F.dropout(x, 0.2)), y, weight=coded, pos_weight=pos_weight,
                                                  reduction="sum") / coded.sum().clamp(min=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval(), mean, std


@torch.no_grad()
def head_probabilities(head: AuHead, features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return torch.sigmoid(head(torch.from_numpy((features - mean) / std).float())).numpy()


# ------------------------------------------------------------------------------------------- main
def select_features(maps: np.ndarray, mode: str, channels: int = 1280) -> np.ndarray:
    if mode == "map":
        return maps
    return maps.reshape(len(maps), channels, -1).mean(axis=2)


def training_set(ck: np.ndarray, mirrored: np.ndarray, labels: np.ndarray, neutral: np.ndarray, config: AuConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CK+ faces and their mirror images with their AUs, plus neutral faces with none."""
    count = min(int(config.neutral_share * 2 * len(ck)), len(neutral))
    extra = neutral[rng.choice(len(neutral), size=count, replace=False)]
    x = np.concatenate([ck, mirrored, extra])
    y = np.concatenate([labels, labels, np.zeros((len(extra), labels.shape[1]), np.float32)])
    return x, y


def cross_validate(data: dict, config: AuConfig) -> dict:
    """Out-of-fold AU probabilities over CK+'s 10 subject-grouped folds and their scores."""
    ck = select_features(data["ck_map"], config.features)
    mirrored = select_features(data["ck_map_mirrored"], config.features)
    neutral = select_features(data["neutral_map"], config.features)
    labels, folds = data["ck_labels"], data["ck_folds"]
    probabilities = np.zeros_like(labels)
    rng = np.random.default_rng(config.seed)
    for fold in range(10):
        train = folds != fold
        x, y = training_set(ck[train], mirrored[train], labels[train], neutral, config, rng)
        head, mean, std = train_head(x, y, config)
        probabilities[~train] = head_probabilities(head, ck[~train], mean, std)
    scores = au_scores(labels, probabilities)
    scores["neutral_false_positive_rate"] = None  # measured on held-out neutrals in the final report
    return {"scores": scores, "probabilities": probabilities}


def dataset_labels(samples) -> np.ndarray:
    """(N, len(AUS)) occurrence of AU-dataset samples in mien's AU order; NaN for AUs the dataset does not code."""
    labels = np.full((len(samples), len(AUS)), np.nan, np.float32)
    for i, sample in enumerate(samples):
        for au, value in zip(sample.aus, sample.occurrence):
            if au in AUS:
                labels[i, AUS.index(au)] = value
    return labels


def dataset_cross_validation(dataset: str, root: Path, base_model: Path, config: AuConfig, frame_step: int,
                             threads: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """The literature's subject-exclusive 3-fold protocol on DISFA or BP4D: a head per fold on the frozen
    features of every ``frame_step``-th coded frame. Returns the scores on the dataset's AUs, features, labels."""
    from mien.datasets.au_layouts import au_fold, read_au_dataset
    from mien.train.features import sample_features

    samples = read_au_dataset(dataset, root)[::frame_step]
    if not samples:
        raise ValueError(f"{root}: no AU-coded frames found")
    features, found = sample_features(base_model, samples, threads)
    samples = [s for s, ok in zip(samples, found) if ok]
    features, labels = features[found], dataset_labels(samples)
    subjects = np.array([s.subject for s in samples])
    probabilities = np.full(labels.shape, np.nan, np.float32)
    for fold in (1, 2, 3):
        test = np.isin(subjects, au_fold(dataset, fold)[1])
        if test.any() and (~test).any():
            head, mean, std = train_head(features[~test], labels[~test], config)
            probabilities[test] = head_probabilities(head, features[test], mean, std)
    shared = [k for k in range(len(AUS)) if not np.isnan(labels[:, k]).all()]
    scored = ~np.isnan(probabilities[:, 0])
    scores = au_scores(labels[scored][:, shared], probabilities[scored][:, shared], 0.5, [AUS[k] for k in shared])
    scores.update(dataset=dataset, frames=int(scored.sum()), frame_step=frame_step)
    return scores, features, labels


def export_with_head(base_model: Path, head: AuHead, mean: np.ndarray, std: np.ndarray, out: Path,
                     metadata: dict[str, str], thresholds: list[float] | None = None) -> Path:
    """``base_model`` (any mien expression file, the shipped multi-task one included) with this AU head
    attached as its ``au_logits`` output; expression outputs unchanged (checked)."""
    import onnx

    from mien.models.heads import save_model, session_from_model, with_au_head

    base = onnx.load(str(base_model))
    model = with_au_head(base, head.linear.weight.detach().numpy(), head.linear.bias.detach().numpy(), mean, std,
                         list(AUS), thresholds or [0.5] * len(AUS), metadata)
    size = int({p.key: p.value for p in base.metadata_props}["mien.crop_size"])
    new, old = session_from_model(model, 1), session_from_model(base, 1)
    channels = old.get_inputs()[0].shape[1]  # 1 for gray models, 3 for colour ones
    example = (np.random.default_rng(0).random((4, channels, size, size)) * 255).astype(np.float32)
    if not np.allclose(new.run(["logits"], {"face": example})[0], old.run(["logits"], {"face": example})[0], atol=1e-5):
        raise RuntimeError("attaching the AU head changed the expression output")
    save_model(model, out)
    return out


def train_final(data: dict, config: AuConfig, extra_features: np.ndarray | None = None,
                extra_labels: np.ndarray | None = None) -> tuple[AuHead, np.ndarray, np.ndarray]:
    """The shipped head: every CK+ image (and mirror) plus neutral faces, same recipe as the folds, plus an
    AU dataset's frames when given (their uncoded AUs carry no loss)."""
    ck = select_features(data["ck_map"], config.features)
    mirrored = select_features(data["ck_map_mirrored"], config.features)
    neutral = select_features(data["neutral_map"], config.features)
    x, y = training_set(ck, mirrored, data["ck_labels"], neutral, config, np.random.default_rng(config.seed))
    if extra_features is not None:
        x, y = np.concatenate([x, extra_features]), np.concatenate([y, extra_labels])
    return train_head(x, y, config)


@dataclass
class AuRun:
    """``mien train au``: CK+ folder ``ckplus`` and FER+ folder ``ferplus`` (neutral faces as AU-free
    examples); ``dataset``/``root``: also train on DISFA or BP4D (every ``frame_step``-th coded frame), scored by
    its 3 folds; ``out``: run folder (features cache, cv.json); ``base_model``: expression ONNX whose frozen
    features the head reads; ``export``: also train on everything and write BASE + this head here; ``no_cv``:
    with ``export``, skip the 10-fold CK+ scores; ``config``: the head's recipe."""

    ckplus: Path
    ferplus: Path
    out: Path
    dataset: str | None = None
    root: Path | None = None
    frame_step: int = 10
    base_model: Path = field(default_factory=lambda: _default_base_model())
    export: Path | None = None
    no_cv: bool = False
    max_neutral: int = 3000
    threads: int = 2
    config: AuConfig = field(default_factory=AuConfig)


def _default_base_model() -> Path:
    """The shipped default expression model, whose frozen features the heads read."""
    from mien.models.expression import WEIGHTS_DIR

    return WEIGHTS_DIR / f"{DEFAULT_EXPRESSION}.onnx"


def run(args: "AuRun") -> None:
    """Score the AU head by cross-validation and optionally export the model with it."""

    torch.set_num_threads(args.threads)
    config = args.config
    started = time.time()
    cache = args.out / "features.npz"
    if cache.is_file():
        data = dict(np.load(cache))
    else:
        data = onnx_feature_data(args.base_model, args.ckplus, args.ferplus, args.threads, args.max_neutral)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    print(f"features ready ({time.time() - started:.0f} s): CK+ {data['ck_map'].shape}, neutral {data['neutral_map'].shape}; "
          f"faces found in {data['ck_found'].mean():.3f} of CK+", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    extra_features = extra_labels = None
    if args.dataset:
        if args.root is None:
            raise ValueError("--dataset needs --root")
        dataset_scores, extra_features, extra_labels = dataset_cross_validation(
            args.dataset, args.root, args.base_model, config, args.frame_step, args.threads)
        (args.out / f"cv_{args.dataset}.json").write_text(json.dumps(dataset_scores, indent=1))
        print(f"{args.dataset} 3-fold: mean F1 {dataset_scores['mean_f1']:.4f} over "
              f"{len(dataset_scores['per_au'])} AUs ({dataset_scores['frames']} frames)", flush=True)
    previous = args.out / "cv.json"
    if args.no_cv:
        scores = json.loads(previous.read_text())["scores"] if previous.is_file() else None
    elif previous.is_file() and json.loads(previous.read_text())["config"] == asdict(config):
        scores = json.loads(previous.read_text())["scores"]  # same features and recipe: reuse
    else:
        scores = cross_validate(data, config)["scores"]
        previous.write_text(json.dumps({"config": asdict(config), "scores": scores}, indent=1))
    for name, row in (scores or {}).get("per_au", {}).items():
        print(f"  {name}: F1 {row['f1']:.3f}  AUROC {row['auroc']}  n={row['support']}")
    if scores:
        print(f"mean F1 {scores['mean_f1']:.4f} (the 14 required: {scores['mean_f1_required']:.4f})", flush=True)
    if args.export:
        head, mean, std = train_final(data, config, extra_features, extra_labels)
        metadata = {
            "mien.au_training_data": "CK+ peak frames (327 sequences, 118 subjects; FACS occurrence) and their "
                                     f"mirror images + {len(data['neutral_map'])} FER+ training faces with >= 9/10 "
                                     "neutral votes as AU-free examples"
                                     + (f" + every {args.frame_step}th coded frame of {args.dataset}" if args.dataset else ""),
            "mien.au_protocol": "linear head on the frozen flattened feature map; CK+ 10 subject-grouped folds",
            "mien.au_cv_mean_f1": str(scores["mean_f1"]) if scores else "not measured",
            "mien.au_config": json.dumps(asdict(config)),
        }
        print(f"wrote {export_with_head(args.base_model, head, mean, std, args.export, metadata)}")


if __name__ == "__main__":  # python -m mien.train.au ...: the same as mien train au ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "au"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
