"""Train an expression classifier on FER+, FER2013 or CK+ (PyTorch; ``pip install mien[train]``).

Crops are aligned exactly as the inference pipeline aligns faces (same template, same size), grayscale
on purpose (all training data is grayscale; colour inputs are converted at inference), and augmented on
whole batches in torch so two CPU cores suffice. Every epoch writes ``last.pt`` (resumable) and appends a
line to ``metrics.jsonl``; the best epoch on *validation* is kept as ``best.pt`` (on CK+, whose held-out
fold is a test fold, the last epoch). No test split is read here.

Methods, each switchable: label distributions from the FER+ votes (default; ``--hard-labels`` for
majority one-hot), augmentation (``--no-augment`` turns it off), ``--mixup``, ``--eac`` (Erasing Attention
Consistency), ``--scn`` (Self-Cure Network, :mod:`mien.train.noisy`), ``--teacher``/``--distill``
(knowledge distillation from a trained ONNX model), ``--raw-share`` (unaligned crops). ``--init`` starts
from a trained checkpoint (fine-tuning), and ``--dataset ckplus --cv 10`` runs the subject-grouped 10-fold
protocol (:mod:`mien.train.crossval`).

    python -m mien.train.expression --root ../shared/datasets/ferplus --out runs/expr --epochs 15
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.align.similarity import CropSpec
from mien.schema import EXPRESSIONS
from mien.train.checkpoint import load_checkpoint
from mien.train.expression_data import DATASETS, TrainingData, ckplus_template, load_landmarks, load_training_data
from mien.train.nets import ExpressionNet, build_network
from mien.train.noisy import SelfCure

def mixup(batch: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator):
    """Mix each sample with another of the batch (Zhang et al. 2018); targets are mixed alike."""
    weight = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 1.0
    partner = torch.randperm(len(batch), generator=generator)
    return weight * batch + (1 - weight) * batch[partner], weight * targets + (1 - weight) * targets[partner]


def attention_consistency(model: ExpressionNet, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Erasing Attention Consistency (Zhang et al., ECCV 2022): the class activation maps of an image and
    of its mirror image, mirrored back, should agree. Returns the logits and that consistency loss."""
    logits, cams = model.logits_and_cams(batch)
    _, flipped_cams = model.logits_and_cams(torch.flip(batch, dims=[3]))
    return logits, F.mse_loss(cams, torch.flip(flipped_cams, dims=[3]))


# Settings a resumed run must share with the run it continues (``--epochs`` may grow).
RUN_DEFINING = ("backbone", "size", "batch_size", "lr", "weight_decay", "seed", "limit", "hard_labels", "scratch",
                "landmarks", "raw_share", "mixup", "eac", "root", "dataset", "fold", "init", "scn", "scn_relabel_from",
                "teacher", "distill", "no_augment")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Geometric, photometric, resolution and occlusion augmentation of a (B, 1, S, S) float batch."""
    b, _, s, _ = batch.shape

    def uniform(low, high, size=(b,)):
        return low + (high - low) * torch.rand(size, generator=generator)

    angle = uniform(-15, 15) * math.pi / 180
    scale = uniform(0.9, 1.12)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, uniform(-0.08, 0.08)], 1),
        torch.stack([sin * flip, cos, uniform(-0.08, 0.08)], 1),
    ], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    x = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)

    low_res = torch.rand(b, generator=generator) < 0.3  # faces far from the camera / compressed video
    if low_res.any():
        size = int(torch.randint(16, s, (1,), generator=generator))
        small = F.interpolate(x[low_res], size=(size, size), mode="area")
        x[low_res] = F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(0.6, 1.4).view(b, 1, 1, 1)
    brightness = uniform(-40, 40).view(b, 1, 1, 1)
    x = (x - mean) * contrast + mean + brightness
    gamma = uniform(0.7, 1.4).view(b, 1, 1, 1)
    x = 255.0 * (x.clamp(0, 255) / 255.0) ** gamma

    erase = torch.rand(b, generator=generator) < 0.25  # occlusion: hands, glasses, masks
    for i in torch.nonzero(erase).flatten().tolist():
        h = int(torch.randint(s // 6, s // 2, (1,), generator=generator))
        w = int(torch.randint(s // 6, s // 2, (1,), generator=generator))
        top = int(torch.randint(0, s - h, (1,), generator=generator))
        left = int(torch.randint(0, s - w, (1,), generator=generator))
        x[i, :, top:top + h, left:left + w] = float(torch.randint(0, 256, (1,), generator=generator))
    return x.clamp(0, 255)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
    model.eval()
    outputs = []
    for start in range(0, len(crops), batch_size):
        x = torch.from_numpy(crops[start:start + batch_size]).float().unsqueeze(1)
        outputs.append(F.softmax(model(x), dim=1).numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(EXPRESSIONS)), np.float32)


def cosine_lr(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def crop_for_run(args: "ExpressionConfig", init_config: dict | None) -> tuple[CropSpec, dict | None]:
    """The crop (size, template) of this run and the FER+ landmarks: a fine-tuned model keeps the template
    of the model it starts from, so the pipeline aligns its faces exactly as before."""
    landmarks, template = load_landmarks(args.landmarks)
    if init_config is not None:
        template = np.asarray(init_config["template"])
    elif template is None and args.dataset == "ckplus":
        template = ckplus_template(args.root)
    return (CropSpec(args.size, template) if template is not None else CropSpec(args.size)), landmarks


def distillation_targets(teacher: Path, data_args: dict) -> np.ndarray:
    """Probabilities (N, 8) of a trained ONNX expression model on the training faces, aligned for it."""
    from mien.models.expression import ExpressionModel

    model = ExpressionModel(teacher, threads=2, batch_size=256)
    model.temperature = 1.0  # the teacher's own softmax, not its calibrated one
    faces = load_training_data(**{**data_args, "crop": model.crop, "raw": False}).train
    return model.predict(np.repeat(faces[..., None], 3, axis=3))


def validation_accuracy(model: nn.Module, data: TrainingData) -> tuple[float, np.ndarray]:
    probabilities = predict(model, data.valid)
    columns = data.scored_classes
    predicted = np.asarray(columns)[probabilities[:, columns].argmax(1)]
    return float((predicted == data.valid_labels).mean()), probabilities


def train(args: "ExpressionConfig") -> Path:
    """One training run into ``args.out``; returns the path of the kept checkpoint (``best.pt``)."""
    if args.scn and args.mixup > 0:
        raise ValueError("--scn relabels individual faces and cannot be combined with --mixup")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    init = load_checkpoint(args.init) if args.init else None
    crop, landmarks = crop_for_run(args, init["config"] if init else None)
    data_args = dict(dataset=args.dataset, root=args.root, crop=crop, landmarks=landmarks, limit=args.limit,
                     fold=args.fold, hard_labels=args.hard_labels, raw=args.raw_share > 0)
    data = load_training_data(**data_args)
    targets = torch.from_numpy(data.targets).float()
    if args.teacher:
        teacher = torch.from_numpy(distillation_targets(args.teacher, data_args)).float()
        targets = (1 - args.distill) * targets + args.distill * teacher
    print(f"{args.dataset}: train {len(data.train)} held-out {len(data.valid)} crops of {args.size}px", flush=True)

    model = ExpressionNet(build_network(args.backbone, len(EXPRESSIONS), pretrained=not (args.scratch or init)))
    if init is not None:
        model.load_state_dict(init["model"])
    self_cure = SelfCure(model.backbone.feature_dim) if args.scn else None
    parameters = list(model.parameters()) + (list(self_cure.parameters()) if self_cure else [])
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(data.train) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    state = {"epoch": 0, "best_accuracy": -1.0, "relabelled": 0}
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()}
    config.update(template=crop.template.tolist(), classes=list(EXPRESSIONS),
                  train_images=len(data.train), valid_images=len(data.valid), selected_on_validation=data.select)
    log = out / "metrics.jsonl"
    last = out / "last.pt"
    if args.resume and last.exists():
        checkpoint = load_checkpoint(last)
        changed = {k for k in RUN_DEFINING if checkpoint["config"].get(k) != config.get(k)}
        if changed:
            raise ValueError(f"{out}: cannot resume with changed settings {sorted(changed)}; use a new --out")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if self_cure is not None:
            self_cure.load_state_dict(checkpoint["self_cure"])
            targets = checkpoint["targets"]
        state = {"relabelled": 0, **checkpoint["state"]}
        torch.set_rng_state(checkpoint["torch_rng"])
        kept = [line for line in log.read_text().splitlines() if json.loads(line)["epoch"] <= state["epoch"]] \
            if log.exists() else []
        log.write_text("".join(line + "\n" for line in kept))  # a crash may have logged an epoch twice
        print(f"resumed from {last} after epoch {state['epoch']}", flush=True)
    else:
        log.write_text("")  # a fresh run never mixes its log with an earlier one
    (out / "config.json").write_text(json.dumps(config, indent=2))
    generator = torch.Generator().manual_seed(args.seed)
    relabel_from = args.scn_relabel_from if args.scn_relabel_from is not None else max(1, args.epochs // 3)
    for epoch in range(state["epoch"], args.epochs):
        generator.manual_seed(args.seed * 1000 + epoch)  # per-epoch streams make resumed runs identical
        model.train()
        order = torch.randperm(len(data.train), generator=generator)
        started, running, relabelled = time.time(), 0.0, 0
        for step in range(steps_per_epoch):
            index = order[step * args.batch_size:(step + 1) * args.batch_size]
            images = data.train[index.numpy()]
            if data.raw is not None:
                use_raw = (torch.rand(len(index), generator=generator) < args.raw_share).numpy()
                images = np.where(use_raw[:, None, None], data.raw[index.numpy()], images)
            batch = torch.from_numpy(images).float().unsqueeze(1)
            if not args.no_augment:
                batch = augment(batch, generator)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(epoch * steps_per_epoch + step, total_steps, steps_per_epoch, args.lr)
            batch_targets = targets[index]
            if args.mixup > 0:
                batch, batch_targets = mixup(batch, batch_targets, args.mixup, generator)
            consistency = 0.0
            if args.eac > 0:  # the erasing half of EAC is the random erasing in augment()
                logits, consistency = attention_consistency(model, batch)
                consistency = args.eac * consistency
            if self_cure is not None:
                pooled, plain = model.pooled_and_logits(batch)
                if args.eac > 0:
                    plain = logits
                loss, low = self_cure.loss(pooled, plain, batch_targets)
                if epoch + 1 >= relabel_from:
                    updated = self_cure.relabel(plain.detach(), batch_targets, low)
                    relabelled += int((updated != batch_targets).any(dim=1).sum())
                    targets[index] = updated
            elif args.eac > 0:
                loss = soft_cross_entropy(logits, batch_targets)
            else:
                loss = soft_cross_entropy(model(batch), batch_targets)
            loss = loss + consistency
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item()
        accuracy, _ = validation_accuracy(model, data)
        record = {"epoch": epoch + 1, "train_loss": running / steps_per_epoch, "valid_accuracy": accuracy,
                  "seconds": round(time.time() - started, 1)}
        if self_cure is not None:
            record["relabelled"] = relabelled
        with open(log, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
        improved = accuracy >= state["best_accuracy"] or not data.select
        state = {"epoch": epoch + 1, "best_accuracy": max(state["best_accuracy"], accuracy),
                 "relabelled": state["relabelled"] + relabelled}
        checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                      "torch_rng": torch.get_rng_state(), "config": config}
        if self_cure is not None:
            checkpoint.update(self_cure=self_cure.state_dict(), targets=targets)
        torch.save(checkpoint, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(last)
        if improved:
            torch.save({"model": model.state_dict(), "config": config, "epoch": epoch + 1,
                        "valid_accuracy": accuracy}, out / "best.pt.tmp")
            (out / "best.pt.tmp").replace(out / "best.pt")
    return out / "best.pt"


@dataclass
class ExpressionConfig:
    """One training run (``mien train expression``; the flags are these fields with dashes).

    ``dataset``: ferplus (vote distributions), fer2013 (the original 7-class labels of the same images,
    selected on PublicTest) or ckplus (CK+48 subject-grouped folds); ``root``: the dataset root; ``out``: the
    run folder for checkpoints and logs; ``landmarks``: npz from :mod:`mien.train.ferplus_landmarks`;
    ``size``: crop size in pixels; ``limit``: only the first N images per split; ``hard_labels``: majority
    labels instead of vote distributions; ``mixup``: Beta(alpha, alpha), 0 = off; ``eac``: weight of the
    attention-consistency loss, 0 = off; ``raw_share``: share of training samples given unaligned (0..1);
    ``no_augment``: no geometric/photometric/occlusion augmentation; ``scn``: Self-Cure Network;
    ``scn_relabel_from``: first epoch (1-based) that relabels (default a third of ``epochs``); ``teacher``:
    trained ONNX expression model to distil from, with weight ``distill``; ``init``: start from this
    checkpoint (fine-tuning; keeps its alignment template); ``fold``: CK+ held-out fold (0-9); ``cv``: CK+,
    run all N folds (:func:`mien.train.crossval.cross_validate`); ``scratch``: no ImageNet initialisation.
    """

    root: Path
    out: Path
    dataset: str = "ferplus"
    landmarks: Path | None = None
    backbone: str = "mobilenetv2"
    size: int = 64
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0
    threads: int = 2
    limit: int | None = None
    hard_labels: bool = False
    mixup: float = 0.0
    eac: float = 0.0
    raw_share: float = 0.0
    no_augment: bool = False
    scn: bool = False
    scn_relabel_from: int | None = None
    teacher: Path | None = None
    distill: float = 0.5
    init: Path | None = None
    fold: int = 0
    cv: int = 0
    scratch: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")


if __name__ == "__main__":  # python -m mien.train.expression ...: the same as mien train expression ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "expression"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
