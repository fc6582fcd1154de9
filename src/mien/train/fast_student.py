"""The fast colour variant: the default 112-px MobileFaceNet distilled into the same network at 64 px.

A MobileFaceNet costs 0.22 GMAC at 112x112 and a third of that at 64x64 (onnxruntime: ~1.2 ms per face on
2 threads); the default model's weights are a good start at the lower resolution because the network is
fully convolutional, except its global depthwise conv, whose 7x7 kernel is resampled to the 4x4 map. The
whole network is then fine-tuned on 64-px versions of the cached aligned faces with two targets:

- the default model's probabilities on the 112-px original (knowledge distillation, temperature ``kd_t``),
  on every face including affectnet4's, whose noisy folder labels are not used;
- the faces' own labels (RAF-DB one-hot, smoothed; FER+ vote distributions), weight ``1 - kd_weight``.

Training views are the augmented mirrors of :func:`mien.train.facenet_expression.augmented_view`
(photometric, geometric, low resolution, blur, gray, occlusion) or plain mirrors, resized to 64 px.
Selection and the post-hoc logit adjustment use the same validation splits and score as the default
model (RAF-DB validation carved from train, FER+ valid); no test split is touched.

    python -m mien.train.fast_student teacher                 # the teacher's targets (once, ~5 min)
    python -m mien.train.fast_student train --out runs/fast   # resumes when run again
    python -m mien.train.fast_student export --run runs/fast --out model.onnx
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.schema import EXPRESSIONS
from mien.train.configs import SIZE, StudentConfig
from mien.train.face_cache import cache_path, load_split, rafdb_validation_split
from mien.train.facenet_expression import (augmented_view, check_same_run, export_network, load_best, posthoc_adjustment,
                                           save_checkpoint, selection_score, smoothed, teacher_network,
                                           validation_metrics)
from mien.train.mobilefacenet import MobileFaceNet

MAP = SIZE // 16
TEACHER_MODEL = Path(__file__).resolve().parents[1] / "models" / "weights" / "mfn-raf-ferplus.onnx"
SPLITS = (("rafdb", "train"), ("ferplus", "train"), ("ferplus", "valid"), ("affectnet4", "all"))


def downsized(crops: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, 112, 112, 3) uint8 -> (N, size, size, 3) uint8 by area averaging (as the aligner's antialiased warp);
    112 returns the crops unchanged."""
    if crops.shape[1] == size:
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])


# ------------------------------------------------------------------------------------------ teacher
def teacher_logits(faces: Path, out: Path, model: Path = TEACHER_MODEL, batch_size: int = 64) -> None:
    """A teacher's logits on every cached face, ``out/{dataset}_{split}.npy`` (N, 8) float32; a split already
    written is skipped. ``model``: a mien ONNX file (default: the shipped default model, its post-hoc adjustment
    included; an ensemble's logits are its log mean probabilities)."""
    import onnxruntime as ort

    out.mkdir(parents=True, exist_ok=True)
    check_teacher(out, model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    (out / "teacher.json").write_text(json.dumps({"model": Path(model).stem}))
    for dataset, split in SPLITS:
        target = out / f"{dataset}_{split}.npy"
        if target.is_file() or not cache_path(faces, dataset, split).is_file():  # done, or a split not cached
            continue
        crops = load_split(faces, dataset, split)["crops"]
        logits = [session.run(["logits"], {"face": crops[s:s + batch_size].transpose(0, 3, 1, 2).astype(np.float32)})[0]
                  for s in range(0, len(crops), batch_size)]
        np.save(target, np.concatenate(logits).astype(np.float32))
        print(f"{target}: {len(crops)} faces", flush=True)


def check_teacher(out: Path, model: Path) -> None:
    """Refuse an ``out`` folder that already holds logits of another teacher than ``model`` (named by its file
    stem in ``out/teacher.json``), so that two teachers are never mixed in one set of targets."""
    if not any(out.glob("*.npy")):
        return
    path = out / "teacher.json"
    recorded = json.loads(path.read_text())["model"] if path.is_file() else None
    if recorded != Path(model).stem:
        raise ValueError(f"{out} holds the logits of teacher {recorded or 'unrecorded'!r}, not "
                         f"{Path(model).stem!r}: choose another --out")


def teacher_name(teacher: Path) -> str:
    """The model whose logits are in the ``teacher`` folder (see :func:`record_teacher`)."""
    path = Path(teacher) / "teacher.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: rerun the teacher step into a new folder")
    return json.loads(path.read_text())["model"]


# ------------------------------------------------------------------------------------------ network
def student_network(init: Path | None, size: int = SIZE) -> MobileFaceNet:
    """A MobileFaceNet for ``size``-px input (a multiple of 16): the default model's weights (``init``: a
    facenet_expression run's ``best.pt``; None: the RAF-DB teacher) with the global depthwise kernel resampled
    from 7x7 to the (size/16)-square map and scaled so that a constant map gives the same output (at 112 px
    the kernel is kept as it is: the whole network is then fine-tuned at the default's resolution)."""
    net = MobileFaceNet(len(EXPRESSIONS))
    if init is not None:
        net.load_state_dict(torch.load(init, weights_only=True)["net"])
    else:
        net = teacher_network()
    side = size // 16
    if side == 7:
        return net
    seven = net.gdc.weight.detach().numpy()  # (512, 1, 7, 7)
    four = np.stack([cv2.resize(k[0], (side, side), interpolation=cv2.INTER_AREA) for k in seven])[:, None]
    four *= 49.0 / (side * side)  # area averaging keeps the mean; the sum over the map is what must stay
    gdc = nn.Conv2d(512, 512, side, groups=512)
    with torch.no_grad():
        gdc.weight.copy_(torch.from_numpy(four.astype(np.float32)))
        gdc.bias.copy_(net.gdc.bias)
    net.gdc = gdc
    return net


# ------------------------------------------------------------------------------------------ training
@dataclass
class Source:
    crops: np.ndarray  # (N, 112, 112, 3) uint8
    teacher: np.ndarray  # (N, 8) teacher probabilities at kd_t
    targets: np.ndarray | None  # (N, 8) label distributions, None: distillation only
    per_epoch: int | None


def load_sources(config: StudentConfig) -> tuple[list[Source], dict[str, tuple[np.ndarray, np.ndarray]]]:
    faces, teacher = Path(config.faces), Path(config.teacher)

    def soft(name: str) -> np.ndarray:
        logits = torch.from_numpy(np.load(teacher / f"{name}.npy"))
        return F.softmax(logits / config.kd_t, dim=1).numpy()

    raf = load_split(faces, "rafdb", "train")
    held = rafdb_validation_split(raf["labels"])
    fer = load_split(faces, "ferplus", "train")
    keep = fer["labels"] >= 0
    sources = [
        Source(raf["crops"][~held], soft("rafdb_train")[~held], smoothed(raf["targets"][~held], config.label_smoothing), None),
        Source(fer["crops"][keep], soft("ferplus_train")[keep], fer["targets"][keep], config.ferplus_per_epoch),
    ]
    if config.affectnet_per_epoch > 0:  # distillation targets only: its folder labels are too noisy
        sources.append(Source(load_split(faces, "affectnet4", "all")["crops"], soft("affectnet4_all"), None,
                              config.affectnet_per_epoch))
    return sources, validation_faces(faces, config.size, raf)


def validation_faces(faces: Path, size: int = SIZE, raf: dict[str, np.ndarray] | None = None
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The validation sets as ``{name: (crops shrunk to size px, labels)}``: RAF-DB validation carved from train
    (seed 0) and FER+ valid (faces with a label). ``raf``: the RAF-DB train split, if already loaded."""
    if raf is None:
        raf = load_split(faces, "rafdb", "train", ("crops", "labels"))
    held = rafdb_validation_split(raf["labels"])
    fer = load_split(faces, "ferplus", "valid", ("crops", "labels"))
    keep = fer["labels"] >= 0
    return {"rafdb_valid": (downsized(raf["crops"][held], size), raf["labels"][held]),
            "ferplus_valid": (downsized(fer["crops"][keep], size), fer["labels"][keep])}


def epoch_rows(sources: list[Source], rng: np.random.Generator) -> list[tuple[int, int]]:
    rows = []
    for k, source in enumerate(sources):
        count = len(source.crops)
        chosen = np.arange(count) if source.per_epoch is None else rng.choice(count, min(count, source.per_epoch), replace=False)
        rows += [(k, int(i)) for i in chosen]
    return [rows[i] for i in rng.permutation(len(rows))]


def training_view(crop: np.ndarray, rng: np.random.Generator, config: StudentConfig) -> np.ndarray:
    if rng.random() < config.augment_share:
        crop = augmented_view(crop, rng, config.gray_share)
    elif rng.random() < 0.5:
        crop = crop[:, ::-1]
    return downsized(np.ascontiguousarray(crop)[None], config.size)[0]


def as_input(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32)) / 127.5 - 1.0


def batch_loss(net: MobileFaceNet, sources: list[Source], rows: list[tuple[int, int]], rng: np.random.Generator,
               config: StudentConfig) -> torch.Tensor:
    x = as_input(np.stack([training_view(sources[k].crops[i], rng, config) for k, i in rows]))
    teacher = torch.from_numpy(np.stack([sources[k].teacher[i] for k, i in rows]))
    logits = net(x)
    kd = F.kl_div(F.log_softmax(logits / config.kd_t, dim=1), teacher, reduction="none").sum(1) * config.kd_t ** 2
    labelled = [j for j, (k, _) in enumerate(rows) if sources[k].targets is not None]
    ce = torch.zeros(len(rows))
    if labelled:
        targets = torch.from_numpy(np.stack([sources[rows[j][0]].targets[rows[j][1]] for j in labelled]).astype(np.float32))
        ce[labelled] = -(targets * F.log_softmax(logits[labelled], dim=1)).sum(1)
    has_label = torch.zeros(len(rows))
    has_label[labelled] = 1.0
    weight_ce = (1 - config.kd_weight) * has_label
    weight_kd = torch.where(has_label > 0, torch.tensor(config.kd_weight), torch.tensor(1.0))
    return (weight_kd * kd + weight_ce * ce).mean()


@torch.no_grad()
def evaluate(net: nn.Module, validation: dict) -> dict[str, dict[str, float]]:
    net.eval()
    probs = {name: np.concatenate([F.softmax(net(as_input(crops[s:s + 256])), dim=1).numpy()
                                   for s in range(0, len(crops), 256)])
             for name, (crops, _) in validation.items()}
    return validation_metrics(probs, {name: labels for name, (_, labels) in validation.items()})


# Every setting except the epoch count and the thread count defines a run: resuming with another is refused.
RESUMABLE = ("epochs", "threads")


def train(config: StudentConfig, out: Path) -> dict:
    """Train (or resume) into ``out``: ``last.pt`` every epoch, ``best.pt``/``best.json`` on the selection
    score, ``metrics.jsonl`` one line per epoch."""
    torch.set_num_threads(config.threads)
    resuming = (out / "last.pt").is_file()
    if resuming:
        check_same_run(out, config, [k for k in asdict(config) if k not in RESUMABLE])
    init = Path(config.init) if config.init else None  # "" starts from the OpenCV Zoo teacher
    if init is not None and not init.is_file():
        raise FileNotFoundError(f"--init {init} not found: train the default model first (mien.train."
                                "facenet_expression) or pass --init '' to start from the RAF-DB teacher")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
    sources, validation = load_sources(config)
    net = student_network(init, config.size)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start, best = 0, -1.0
    if resuming:
        state = torch.load(out / "last.pt", weights_only=True)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        start, best = state["epoch"] + 1, state["best"]
    else:
        metrics = evaluate(net, validation)
        print(json.dumps({"epoch": -1, "score": selection_score(metrics), **metrics}), flush=True)
    steps_per_epoch = math.ceil(len(epoch_rows(sources, np.random.default_rng(0))) / config.batch_size)
    total = steps_per_epoch * config.epochs
    for epoch in range(start, config.epochs):
        rng = np.random.default_rng(config.seed * 1000 + epoch)
        rows = epoch_rows(sources, rng)
        net.train()
        began, losses = time.time(), []
        for step in range(steps_per_epoch):
            done = epoch * steps_per_epoch + step
            for group in optimiser.param_groups:
                group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * done / total))
            loss = batch_loss(net, sources, rows[step * config.batch_size:(step + 1) * config.batch_size], rng, config)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        metrics = evaluate(net, validation)
        score = selection_score(metrics)
        line = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": round(time.time() - began, 1),
                "score": score, **metrics}
        with open(out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)
        if score > best:
            best = score
            save_checkpoint(out / "best.pt", {"net": net.state_dict(), "epoch": epoch})
            (out / "best.json").write_text(json.dumps({"epoch": epoch, "score": score, **metrics}, indent=1))
        save_checkpoint(out / "last.pt", {"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                                          "epoch": epoch, "best": best})
    return finish(config, out, validation)


def finish(config: StudentConfig, out: Path, validation: dict) -> dict:
    """Choose the post-hoc logit adjustment of the best checkpoint on validation (written to best.json)."""
    summary = json.loads((out / "best.json").read_text())
    if "posthoc" in summary:
        return summary
    net = student_network(None, config.size)
    net.load_state_dict(torch.load(out / "best.pt", weights_only=True)["net"])
    raf = load_split(Path(config.faces), "rafdb", "train")
    fer = load_split(Path(config.faces), "ferplus", "train")
    held = rafdb_validation_split(raf["labels"])
    prior = (raf["targets"][~held].sum(0) + fer["targets"][fer["labels"] >= 0].sum(0))
    summary["posthoc"] = posthoc_adjustment(net, validation, prior / prior.sum(), evaluate)
    (out / "best.json").write_text(json.dumps(summary, indent=1))
    return summary


# ------------------------------------------------------------------------------------------ export
def export(run: Path, out: Path, metadata: dict[str, str]) -> Path:
    """``run/best.pt`` as a mien ONNX model at the run's input size (``config.json``) with the chosen post-hoc
    adjustment folded in."""
    size = json.loads((run / "config.json").read_text()).get("size", SIZE)
    net = student_network(None, size)
    return export_network(net, out, load_best(net, run, metadata), size=size)


if __name__ == "__main__":  # python -m mien.train.fast_student ...: the same as mien train fast-student ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "fast-student"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
