"""Action-unit heads on the expression network's features, trained on CK+ (and optionally DISFA/BP4D).

The expression backbone (trained on FER+) is kept frozen: its last feature map already encodes the
facial configuration, and freezing it leaves the shipped expression outputs bit-identical. An AU head
(one logistic output per AU) reads the (C, h, w) feature map; the exported ONNX file runs backbone,
expression head and AU head in ONE forward pass.

Data: CK+48 peak frames with their sequence's FACS codes (``au_emotion_labels.csv``: occurrence at the
peak), plus FER+ training faces that 9 or 10 of 10 annotators called neutral as all-AUs-absent examples
(CK+48 has no neutral frames, and without them a head learns that every face shows some AU). Evaluation
is subject-independent: CK+'s 10 subject-grouped folds; neutral FER+ faces are only ever training data.

    python -m mien.train.au --checkpoint runs/expr_mnv2_64/best.pt --ckplus ../shared/datasets/ckplus \\
        --ferplus ../shared/datasets/ferplus --out runs/au
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.align.similarity import CropSpec, estimate_similarity
from mien.eval.metrics import auroc
from mien.schema import AUS  # the shipped AUs: the 14 the issue names plus CK+'s with >= 27 positive sequences

REQUIRED_AUS = (1, 2, 4, 5, 6, 7, 9, 12, 15, 17, 23, 24, 25, 26)


@dataclass
class AuConfig:
    epochs: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-3
    neutral_share: float = 0.5   # neutral FER+ faces per CK+ image in training
    features: str = "map"        # "map": the flattened last feature map; "pooled": its spatial mean
    seed: int = 0


# ------------------------------------------------------------------------------------------- data
def read_ckplus_aus(root: Path) -> dict[str, np.ndarray]:
    """Sequence id (``Sxxx_yyy``) -> (len(AUS),) 0/1 occurrence at the peak, from ``au_emotion_labels.csv``."""
    path = Path(root) / "au_emotion_labels.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CK+ AU table not found")
    table = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            table[row["video"]] = np.array([int(row[f"AU{au}"]) for au in AUS], np.float32)
    return table


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


def confident_neutral_ferplus(root: Path, min_votes: int = 9) -> list[str]:
    """FER+ training images (``FER2013Train/name.png``) that at least ``min_votes`` annotators called neutral."""
    names = []
    with (Path(root) / "FER2013Train" / "label.csv").open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 3 and row[2].strip().isdigit() and int(row[2]) >= min_votes:
                names.append(f"FER2013Train/{row[0]}")
    return names


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


@torch.no_grad()
def backbone_maps(model, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, C*h*w) flattened last feature maps of (N, S, S) uint8 crops, exactly as the exported graph
    computes them (one pass, no test-time mirroring: inference must stay one forward pass)."""
    outputs = []
    for start in range(0, len(crops), batch_size):
        x = torch.from_numpy(crops[start:start + batch_size]).float()[:, None]
        outputs.append(model.backbone.forward_features(model.normalise(x)).flatten(1))
    return torch.cat(outputs).numpy()


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
    """Full-batch AdamW on standardised features with per-AU positive weighting; returns head, mean, std."""
    torch.manual_seed(config.seed)
    mean = features.mean(0) if mean is None else mean
    std = features.std(0) + 1e-6 if std is None else std
    x = torch.from_numpy((features - mean) / std).float()
    y = torch.from_numpy(labels).float()
    positives = y.sum(0).clamp(min=1)
    pos_weight = ((len(y) - positives) / positives).clamp(max=20)
    head = AuHead(x.shape[1], y.shape[1])
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        loss = F.binary_cross_entropy_with_logits(head(F.dropout(x, 0.2)), y, pos_weight=pos_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval(), mean, std


@torch.no_grad()
def head_probabilities(head: AuHead, features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return torch.sigmoid(head(torch.from_numpy((features - mean) / std).float())).numpy()


def au_scores(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Per-AU F1 (at ``threshold``), precision, recall, AUROC and support; mean F1 over all and the required AUs."""
    per_au = {}
    for k, au in enumerate(AUS):
        truth, predicted = labels[:, k] > 0.5, probabilities[:, k] >= threshold
        tp = int((truth & predicted).sum())
        fp, fn = int((~truth & predicted).sum()), int((truth & ~predicted).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        per_au[f"AU{au:02d}"] = {
            "f1": round(f1, 4), "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
            "auroc": round(auroc(probabilities[:, k], truth), 4) if 0 < truth.sum() < len(truth) else None,
            "support": int(truth.sum()),
        }
    required = [per_au[f"AU{au:02d}"]["f1"] for au in REQUIRED_AUS]
    return {"per_au": per_au, "mean_f1": round(float(np.mean([v["f1"] for v in per_au.values()])), 4),
            "mean_f1_required": round(float(np.mean(required)), 4), "threshold": threshold}


# ------------------------------------------------------------------------------------------- main
def load_expression_model(checkpoint: Path):
    from mien.train.export import load_checkpoint_model

    model, saved = load_checkpoint_model(checkpoint)
    return model, saved["config"]


def prepare_features(args: argparse.Namespace, config: AuConfig, cache: Path) -> dict:
    """Aligned crops -> frozen features for CK+ and neutral FER+ faces, cached in ``cache`` (npz)."""
    if cache.is_file():
        return dict(np.load(cache, allow_pickle=False))
    from mien.detect.retinaface import RetinaFaceDetector
    from mien.datasets import ferplus

    model, expression_config = load_expression_model(args.checkpoint)
    crop = CropSpec(int(expression_config["size"]), np.asarray(expression_config["template"]))
    detector = RetinaFaceDetector(threads=args.threads, score_threshold=0.5, min_size=64)
    paths, labels, folds = ckplus_au_samples(args.ckplus)
    ck_crops, ck_found = align_gray_crops([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths], crop, detector)
    neutral_names = confident_neutral_ferplus(args.ferplus)
    rng = np.random.default_rng(0)
    neutral_names = sorted(rng.choice(neutral_names, size=min(len(neutral_names), args.max_neutral), replace=False))
    neutral_crops, _ = align_gray_crops([ferplus.load_gray(args.ferplus, n) for n in neutral_names], crop, detector)
    data = {  # mirrored crops are training augmentation (AU labels are bilateral)
        "ck_map": backbone_maps(model, ck_crops), "ck_map_mirrored": backbone_maps(model, ck_crops[:, :, ::-1].copy()),
        "ck_labels": labels, "ck_folds": folds, "ck_found": ck_found, "ck_names": np.array([p.name for p in paths]),
        "neutral_map": backbone_maps(model, neutral_crops),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **data)
    return data


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


class MultiTaskNet(nn.Module):
    """Backbone -> (expression logits, AU logits) in one pass; the shipped ONNX graph.

    Input: (N, 1, S, S) float32 grayscale in [0, 255], as the expression model's.
    """

    def __init__(self, expression_model, head: AuHead, mean: np.ndarray, std: np.ndarray, features: str) -> None:
        super().__init__()
        self.expression_model, self.head, self.features = expression_model, head, features
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))

    def forward(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        backbone = self.expression_model.backbone
        maps = backbone.forward_features(self.expression_model.normalise(gray))
        pooled = maps.mean(dim=(2, 3))
        logits = backbone.classifier(pooled) if hasattr(backbone, "classifier") else backbone._fc(pooled)
        features = maps.flatten(1) if self.features == "map" else pooled
        return logits, self.head((features - self.mean) / self.std)


def export_multitask(checkpoint: Path, head: AuHead, mean: np.ndarray, std: np.ndarray, config: AuConfig,
                     base_model: Path, out: Path, extra_metadata: dict[str, str]) -> Path:
    """ONNX with outputs ``logits`` and ``au_logits``. The expression half must reproduce ``base_model``
    (the shipped expression-only file) and inherits all of its metadata (calibration included)."""
    import onnx
    import onnxruntime as ort

    expression_model, expression_config = load_expression_model(checkpoint)
    net = MultiTaskNet(expression_model, head, mean, std, config.features).eval()
    size = int(expression_config["size"])
    example = torch.rand(4, 1, size, size) * 255
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(net, (example,), str(tmp), input_names=["face"], output_names=["logits", "au_logits"],
                      dynamic_axes={"face": {0: "batch"}, "logits": {0: "batch"}, "au_logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    graph = onnx.load(str(tmp))
    metadata = {p.key: p.value for p in onnx.load(str(base_model)).metadata_props}
    metadata.update(extra_metadata)
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    base = ort.InferenceSession(str(base_model), providers=["CPUExecutionProvider"])
    logits, au_logits = session.run(None, {"face": example.numpy()})
    with torch.no_grad():
        expected_logits, expected_aus = net(example)
    if not np.allclose(logits, base.run(None, {"face": example.numpy()})[0], atol=1e-4):
        raise RuntimeError("the multi-task file's expression output differs from the shipped expression model")
    if not np.allclose(au_logits, expected_aus.numpy(), atol=1e-3):
        raise RuntimeError("ONNX AU output differs from PyTorch")
    tmp.replace(out)
    return out


def train_final(data: dict, config: AuConfig) -> tuple[AuHead, np.ndarray, np.ndarray]:
    """The shipped head: every CK+ image (and mirror) plus neutral faces, same recipe as the folds."""
    ck = select_features(data["ck_map"], config.features)
    mirrored = select_features(data["ck_map_mirrored"], config.features)
    neutral = select_features(data["neutral_map"], config.features)
    x, y = training_set(ck, mirrored, data["ck_labels"], neutral, config, np.random.default_rng(config.seed))
    return train_head(x, y, config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mien train au", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="expression training checkpoint (best.pt)")
    parser.add_argument("--ckplus", type=Path, required=True)
    parser.add_argument("--ferplus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-neutral", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--export", type=Path, help="also train on everything and write the multi-task ONNX here")
    parser.add_argument("--base-model", type=Path, help="the shipped expression-only ONNX (metadata and check)")
    for field, value in asdict(AuConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = AuConfig(**{f: getattr(args, f) for f in asdict(AuConfig())})
    started = time.time()
    data = prepare_features(args, config, args.out / "features.npz")
    print(f"features ready ({time.time() - started:.0f} s): CK+ {data['ck_map'].shape}, neutral {data['neutral_map'].shape}; "
          f"faces found in {data['ck_found'].mean():.3f} of CK+", flush=True)
    result = cross_validate(data, config)
    scores = result["scores"]
    for name, row in scores["per_au"].items():
        print(f"  {name}: F1 {row['f1']:.3f}  AUROC {row['auroc']}  n={row['support']}")
    print(f"mean F1 {scores['mean_f1']:.4f} (required 14: {scores['mean_f1_required']:.4f})")
    (args.out / "cv.json").write_text(json.dumps({"config": asdict(config), "scores": scores}, indent=1))
    if args.export:
        head, mean, std = train_final(data, config)
        metadata = {
            "mien.aus": json.dumps(list(AUS)),
            "mien.au_thresholds": json.dumps([0.5] * len(AUS)),
            "mien.au_training_data": "CK+ peak frames (327 sequences, 118 subjects, FACS occurrence) + "
                                     f"{len(data['neutral_map'])} FER+ training faces with >= 9/10 neutral votes",
            "mien.au_cv_mean_f1": str(scores["mean_f1"]),
            "mien.au_config": json.dumps(asdict(config)),
        }
        path = export_multitask(args.checkpoint, head, mean, std, config, args.base_model, args.export, metadata)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
