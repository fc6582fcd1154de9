"""Colour 112-pixel expression models on a face-pretrained backbone, trained on RAF-DB + FER+.

Backbones (:data:`BACKBONES`, ``--backbone``): ``mobilefacenet-rafdb`` (default; OpenCV Zoo's RAF-DB expression
MobileFaceNet) and ``sface`` (OpenCV Zoo's SFace face-recognition network, :mod:`mien.train.sface`: pretrained
on faces, never on expression labels). What follows describes the default; SFace is cut after its 9th block.

Two CPU cores cannot fine-tune a 0.22 GMAC network on 40,000 faces per epoch, so training is split where
the network's cost is: the trunk up to the 14x14 map (stem + 12 bottlenecks, 85% of the MACs) stays frozen
at its RAF-DB-pretrained weights and its output is cached once for a few augmented views of every face;
the top (3 bottlenecks at 7x7, the 512-channel head, the global depthwise conv, the embedding and an
8-class classifier) is fine-tuned on the cache, a few minutes per epoch. Exported, both halves form one
ONNX file with mien's input convention ((N, 3, 112, 112) RGB in [0, 255]).

    python -m mien.train.face_cache                                   # aligned crops (once)
    python -m mien.train.facenet_expression features                  # trunk features (once)
    python -m mien.train.facenet_expression train --out runs/mfn      # resumes when run again
    python -m mien.train.facenet_expression export --run runs/mfn --out model.onnx
    python -m mien.train.facenet_expression features --backbone sface --out data_cache/sface9   # ~15 min
    python -m mien.train.facenet_expression train --backbone sface --features data_cache/sface9 --out runs/sface

Validation never touches a test split: RAF-DB's official train split is carved (stratified, seed 0) into
train and validation; FER+ selects on its own valid split. The selection score is the mean of RAF-DB
validation accuracy, RAF-DB validation mean class accuracy and FER+ validation accuracy.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.schema import EXPRESSIONS
from mien.train.configs import TrainConfig
from mien.train.face_cache import load_split, rafdb_validation_split
from mien.train.mobilefacenet import MobileFaceNet, load_onnx_weights, with_conv_prelu

TEACHER = Path("../shared/teachers/opencv_zoo_fer_mobilefacenet_2022july_fp32deq.onnx")
TEACHER_CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # its logit order
TRUNK_BLOCKS = 12  # bottlenecks in the frozen trunk; its output is (128, 14, 14)


# ------------------------------------------------------------------------------------------ network
class Trunk(nn.Module):
    """The frozen part: the stem and the first ``cut`` blocks of a backbone network."""

    def __init__(self, net: nn.Module, cut: int = TRUNK_BLOCKS) -> None:
        super().__init__()
        self.stem, self.blocks = net.stem, net.blocks[:cut]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class Top(nn.Module):
    """The trainable part: trunk features (N, C, 14, 14) -> logits (N, 8). It shares its modules with the
    network it was cut from, so that network's ``state_dict`` holds the trained weights."""

    def __init__(self, net: nn.Module, cut: int = TRUNK_BLOCKS) -> None:
        super().__init__()
        self.blocks = net.blocks[cut:]
        self.head = nn.Sequential(*[getattr(net, name) for name in net.head_modules])
        self.classifier = net.classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean(dim=(2, 3)))


class ExportedNet(nn.Module):
    """What ships: (N, 3, 112, 112) RGB in [0, 255] -> 8 logits in mien's class order."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(rgb / 127.5 - 1.0)


def teacher_network(teacher: Path = TEACHER) -> MobileFaceNet:
    """The RAF-DB MobileFaceNet with an 8-class classifier in mien's order; contempt starts from zeros
    with a low bias (the teacher never saw it)."""
    seven = load_onnx_weights(MobileFaceNet(len(TEACHER_CLASSES)), teacher)
    net = MobileFaceNet(len(EXPRESSIONS))
    net.load_state_dict({k: v for k, v in seven.state_dict().items() if not k.startswith("classifier")}, strict=False)
    with torch.no_grad():
        old, new = seven.classifier[1], net.classifier[1]
        new.weight.zero_()
        new.bias.fill_(float(old.bias.min()) - 2.0)
        for index, name in enumerate(TEACHER_CLASSES):
            new.weight[EXPRESSIONS.index(name)] = old.weight[index]
            new.bias[EXPRESSIONS.index(name)] = old.bias[index]
    return net


@dataclass(frozen=True)
class Backbone:
    """A face-pretrained network for a 112-px expression model, and where it is cut: the stem and the first
    ``cut`` blocks stay frozen (their (``channels``, 14, 14) outputs are cached once by ``features``), the
    rest is fine-tuned. ``views``: cached views per (dataset, split), 0 = the crop itself, k > 0 = augmented
    mirrors."""

    pretrained: Callable[[], nn.Module]  # the 8-class network with the backbone's weights
    empty: Callable[[], nn.Module]  # the same network, to load a run's checkpoint into
    cut: int
    channels: int
    views: dict[tuple[str, str], int]


def _sface() -> nn.Module:
    from mien.train.sface import SFace, load_sface_weights

    return load_sface_weights(SFace(len(EXPRESSIONS)))


def _empty_sface() -> nn.Module:
    from mien.train.sface import SFace

    return SFace(len(EXPRESSIONS))


BACKBONES: dict[str, Backbone] = {
    "mobilefacenet-rafdb": Backbone(
        teacher_network, lambda: MobileFaceNet(len(EXPRESSIONS)), TRUNK_BLOCKS, 128,
        {("rafdb", "train"): 3, ("ferplus", "train"): 1, ("ferplus", "valid"): 1, ("affectnet4", "all"): 1}),
    "sface": Backbone(
        _sface, _empty_sface, 9, 512,  # the last two 14x14 blocks and the two 7x7 blocks are fine-tuned
        {("rafdb", "train"): 2, ("ferplus", "train"): 1, ("ferplus", "valid"): 1}),
}
DEFAULT_BACKBONE = "mobilefacenet-rafdb"


def backbone_spec(name: str) -> Backbone:
    """The registered backbone ``name``; a clear error naming the choices otherwise."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def backbone_of(features: Path) -> str:
    """The backbone whose trunk made the cached ``features`` (folders from before the choice: the default)."""
    path = features / "backbone.json"
    return json.loads(path.read_text())["backbone"] if path.is_file() else DEFAULT_BACKBONE


def check_features(features: Path, name: str) -> None:
    """Refuse cached ``features`` made by another backbone than ``name``, or cut at another depth."""
    if backbone_of(features) != name:
        raise ValueError(f"{features} holds features of the {backbone_of(features)} backbone, not {name}: pass the "
                         "matching --features or --backbone")
    path = features / "backbone.json"
    cut = json.loads(path.read_text()).get("cut") if path.is_file() else TRUNK_BLOCKS
    if cut != backbone_spec(name).cut:
        raise ValueError(f"{features} was cut after block {cut}, {name} is now cut after block "
                         f"{backbone_spec(name).cut}: rebuild the features into another --out")


# ------------------------------------------------------------------------------------------ features
def augmented_view(crop: np.ndarray, rng: np.random.Generator, gray_share: float) -> np.ndarray:
    """One photometric/geometric/resolution/occlusion-augmented mirror of an aligned (S, S, 3) crop."""
    size = crop.shape[0]
    image = crop[:, ::-1]
    angle, scale = rng.uniform(-12, 12), rng.uniform(0.92, 1.1)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * size
    image = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.3:  # far from the camera / compressed video
        small = int(rng.integers(24, 64))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                           interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.15:
        image = cv2.GaussianBlur(image, (5, 5), rng.uniform(0.5, 1.5))
    x = image.astype(np.float32)
    x = (x - x.mean()) * rng.uniform(0.7, 1.3) + x.mean() + rng.uniform(-30, 30)
    x *= rng.uniform(0.9, 1.1, 3)  # white balance
    x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.75, 1.35)
    if rng.random() < gray_share:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.25:  # occlusion: hands, glasses, masks
        h, w = rng.integers(size // 6, size // 2, 2)
        top, left = rng.integers(0, size - h), rng.integers(0, size - w)
        x[top:top + h, left:left + w] = rng.integers(0, 256)
    return np.clip(x, 0, 255).astype(np.uint8)


def trunk_session(trunk: Trunk, threads: int = 2):
    """An onnxruntime session of ``trunk`` (input ``x`` (N, 3, 112, 112) in [-1, 1], output ``y``): much faster
    than torch's CPU inference for caching tens of thousands of faces."""
    import onnxruntime as ort

    handle, temporary = tempfile.mkstemp(suffix=".onnx")
    os.close(handle)
    try:
        torch.onnx.export(trunk.eval(), torch.zeros(1, 3, 112, 112), temporary, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return ort.InferenceSession(temporary, options, providers=["CPUExecutionProvider"])
    finally:
        os.remove(temporary)


def trunk_features(trunk, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, C, 14, 14) float16 trunk outputs of (N, 112, 112, 3) uint8 RGB crops; ``trunk`` is a
    :class:`Trunk` or its :func:`trunk_session`."""
    chunks = []
    for start in range(0, len(crops), batch_size):
        x = crops[start:start + batch_size].transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
        if isinstance(trunk, nn.Module):
            with torch.no_grad():
                y = trunk(torch.from_numpy(x)).numpy()
        else:
            y = trunk.run(["y"], {"x": x})[0]
        chunks.append(y.astype(np.float16))
    return np.concatenate(chunks) if chunks else np.empty((0, 0, 14, 14), np.float16)


def build_features(faces: Path, out: Path, seed: int = 0, limit: int | None = None,
                   backbone: str = DEFAULT_BACKBONE) -> None:
    """Cache ``backbone``'s frozen-trunk features of every training and validation face in ``out``: one ``.npy``
    of shape (views, N, C, 14, 14) float16 per split and ``backbone.json``. Existing files are kept, so an
    interrupted run resumes."""
    torch.set_num_threads(2)
    spec = backbone_spec(backbone)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.npy")):
        check_features(out, backbone)
    (out / "backbone.json").write_text(json.dumps({"backbone": backbone, "cut": spec.cut}))
    session = trunk_session(Trunk(spec.pretrained(), spec.cut))
    rng = np.random.default_rng(seed)
    for (dataset, split), views in spec.views.items():
        path = out / f"{dataset}_{split}.npy"
        try:
            data = load_split(faces, dataset, split)
        except FileNotFoundError as error:
            print(f"skipped: {error}")
            continue
        if path.is_file():
            print(f"{path} exists, kept")
            continue
        crops = data["crops"][:limit]
        started = time.time()
        stacked = np.empty((views, len(crops), spec.channels, 14, 14), np.float16)
        for view in range(views):
            gray_share = 0.0 if dataset == "ferplus" else 0.2
            images = crops if view == 0 else np.stack([augmented_view(c, rng, gray_share) for c in crops])
            stacked[view] = trunk_features(session, images)
            print(f"{dataset} {split} view {view}: {len(crops)} faces, {time.time() - started:.0f} s", flush=True)
        handle, temporary = tempfile.mkstemp(dir=out, suffix=".npy.tmp")
        os.close(handle)
        with open(temporary, "wb") as handle:  # a file object: np.save would append ".npy" to a name
            np.save(handle, stacked)
        os.replace(temporary, path)


# ------------------------------------------------------------------------------------------ training
RUN_DEFINING = ("backbone", "features", "faces", "batch_size", "lr", "weight_decay", "logit_adjust", "label_smoothing",
                "ferplus_weight", "ferplus_per_epoch", "affectnet_weight", "affectnet_per_epoch", "teacher",
                "kd_weight", "seed", "limit")


def check_same_run(out: Path, config, defining: Iterable[str]) -> None:
    """Refuse to resume the run in ``out`` when a ``defining`` field of the dataclass ``config`` differs from
    the run's ``config.json`` (a field an older run did not record had its default then)."""
    saved = json.loads((out / "config.json").read_text())
    wanted = asdict(config)
    defaults = asdict(type(config)())
    changed = [k for k in defining if saved.get(k, defaults[k]) != wanted[k]]
    if changed:
        given = ", ".join(f"{k} {saved.get(k, defaults[k])!r} -> {wanted[k]!r}" for k in changed)
        raise ValueError(f"{out} was started with other settings ({given}); resume with the same flags or use "
                         "another --out")


@dataclass
class Pool:
    """Training faces: features of several views, soft targets and per-face loss weights."""

    views: list[np.ndarray]  # each (V, N, C, 14, 14) float16
    targets: np.ndarray  # (N_total, 8)
    weights: np.ndarray  # (N_total,)
    index: list[tuple[int, int]]  # global row -> (source, row in that source)
    per_epoch: list[int | None]  # faces of each source drawn per epoch (None: all)

    def epoch_rows(self, rng: np.random.Generator) -> np.ndarray:
        """Global rows of one epoch, shuffled: every face of a source without a quota, a fresh sample else."""
        rows, start = [], 0
        for views, quota in zip(self.views, self.per_epoch):
            count = views.shape[1]
            chosen = np.arange(count) if quota is None or quota >= count else rng.choice(count, quota, replace=False)
            rows.append(start + chosen)
            start += count
        return rng.permutation(np.concatenate(rows))


def smoothed(targets: np.ndarray, amount: float) -> np.ndarray:
    return targets * (1 - amount) + amount / targets.shape[1]


def teacher_probabilities(config: TrainConfig, split: str) -> np.ndarray | None:
    """The teacher's probabilities on the cached faces of ``split`` (``rafdb_train``, ...), None without a
    teacher. The teacher folder is made by ``python -m mien.train.fast_student teacher --model FILE``; its
    logits are those of the model's original crop, also used as the target of the augmented views."""
    if not config.teacher:
        return None
    if not 0.0 <= config.kd_weight <= 1.0:
        raise ValueError(f"kd_weight {config.kd_weight} must be between 0 and 1")
    logits = np.load(Path(config.teacher) / f"{split}.npy")
    dataset, _, part = split.partition("_")
    faces = len(load_split(Path(config.faces), dataset, part, ("labels",))["labels"])
    if logits.shape != (faces, len(EXPRESSIONS)):
        raise ValueError(f"{config.teacher}/{split}.npy holds {logits.shape} logits for the {faces} faces of "
                         f"{config.faces}: make the teacher's targets from this face cache")
    return torch.softmax(torch.from_numpy(logits[:config.limit]).float(), dim=1).numpy()


def with_teacher(targets: np.ndarray, teacher: np.ndarray | None, kd_weight: float) -> np.ndarray:
    """The faces' own targets mixed with the teacher's probabilities (``kd_weight`` of the teacher's)."""
    return targets if teacher is None else (1 - kd_weight) * targets + kd_weight * teacher


def load_pools(config: TrainConfig) -> tuple[Pool, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The training pool and the validation sets {name: (features (N, C, 14, 14), labels)}. With a teacher,
    every target is mixed with its probabilities, and affectnet4's faces (at ``affectnet_weight``) take the
    teacher's probabilities instead of their noisy folder labels."""
    features, faces = Path(config.features), Path(config.faces)
    raf = load_split(faces, "rafdb", "train", ("labels", "targets"))
    raf_views = np.load(features / "rafdb_train.npy", mmap_mode="r")[:, :config.limit]
    raf_labels = raf["labels"][:config.limit]
    held = rafdb_validation_split(raf_labels, config.seed)
    raf_teacher = teacher_probabilities(config, "rafdb_train")
    raf_targets = smoothed(raf["targets"][:config.limit][~held], config.label_smoothing)
    sources = [(np.asarray(raf_views[:, ~held]),
                with_teacher(raf_targets, None if raf_teacher is None else raf_teacher[~held], config.kd_weight),
                1.0, None)]
    fer = load_split(faces, "ferplus", "train", ("labels", "targets"))
    fer_keep = fer["labels"][:config.limit] >= 0
    if config.ferplus_weight > 0:
        fer_views = np.load(features / "ferplus_train.npy", mmap_mode="r")[:, :config.limit]
        fer_teacher = teacher_probabilities(config, "ferplus_train")
        fer_targets = with_teacher(fer["targets"][:config.limit][fer_keep],
                                   None if fer_teacher is None else fer_teacher[fer_keep], config.kd_weight)
        sources.append((np.asarray(fer_views[:, fer_keep]), fer_targets, config.ferplus_weight,
                        config.ferplus_per_epoch))
    if config.affectnet_weight > 0:
        aff_teacher = teacher_probabilities(config, "affectnet4_all")
        aff_views = np.load(features / "affectnet4_all.npy", mmap_mode="r")[:, :config.limit]
        aff_targets = (aff_teacher if aff_teacher is not None else
                       smoothed(load_split(faces, "affectnet4", "all", ("targets",))["targets"][:config.limit],
                                config.label_smoothing))
        sources.append((np.asarray(aff_views), aff_targets, config.affectnet_weight, config.affectnet_per_epoch))
    pool = Pool([s[0] for s in sources], np.concatenate([s[1] for s in sources]).astype(np.float32),
                np.concatenate([np.full(s[0].shape[1], s[2], np.float32) for s in sources]),
                [(k, i) for k, s in enumerate(sources) for i in range(s[0].shape[1])], [s[3] for s in sources])
    return pool, validation_sets(features, faces, config.seed, config.limit)


def validation_sets(features: Path, faces: Path, seed: int = 0, limit: int | None = None
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (cached features (N, C, 14, 14) of the unaugmented view, labels)} of the RAF-DB validation split
    carved from train with ``seed`` and of FER+ valid (faces with a majority label)."""
    raf_labels = load_split(faces, "rafdb", "train", ("labels",))["labels"][:limit]
    held = rafdb_validation_split(raf_labels, seed)
    raf_views = np.load(features / "rafdb_train.npy", mmap_mode="r")[0, :limit]
    fer_labels = load_split(faces, "ferplus", "valid", ("labels",))["labels"][:limit]
    keep = fer_labels >= 0
    fer_views = np.load(features / "ferplus_valid.npy", mmap_mode="r")[0, :limit]
    return {"rafdb_valid": (np.asarray(raf_views[held]), raf_labels[held]),
            "ferplus_valid": (np.asarray(fer_views[keep]), fer_labels[keep])}


def batch_of(pool: Pool, rows: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = np.empty((len(rows), *pool.views[0].shape[2:]), np.float32)
    for j, row in enumerate(rows):
        source, i = pool.index[row]
        views = pool.views[source]
        x[j] = views[rng.integers(len(views)), i]
    return torch.from_numpy(x), torch.from_numpy(pool.targets[rows]), torch.from_numpy(pool.weights[rows])


@torch.no_grad()
def probabilities(top: Top, features: np.ndarray, batch_size: int = 512) -> np.ndarray:
    top.eval()
    out = [F.softmax(top(torch.from_numpy(features[s:s + batch_size].astype(np.float32))), dim=1).numpy()
           for s in range(0, len(features), batch_size)]
    return np.concatenate(out)


def scores(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return {"accuracy": float((predicted == labels).mean()), "mean_class_accuracy": float(np.mean(recalls))}


def validation_metrics(probs: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Accuracy and mean class accuracy of each validation set's probabilities (RAF-DB's never name contempt,
    a class it does not have)."""
    result = {}
    for name, truth in labels.items():
        p = probs[name].copy()
        if name.startswith("rafdb"):
            p[:, EXPRESSIONS.index("contempt")] = 0
        result[name] = scores(p.argmax(1), truth)
    return result


def evaluate(top: Top, validation: dict) -> dict[str, dict[str, float]]:
    probs = {name: probabilities(top, features) for name, (features, _) in validation.items()}
    return validation_metrics(probs, {name: labels for name, (_, labels) in validation.items()})


def selection_score(metrics: dict) -> float:
    return (metrics["rafdb_valid"]["accuracy"] + metrics["rafdb_valid"]["mean_class_accuracy"]
            + metrics["ferplus_valid"]["accuracy"]) / 3


def save_checkpoint(path: Path, state: dict) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".pt.tmp")
    os.close(handle)
    torch.save(state, temporary)
    os.replace(temporary, path)


def train(config: TrainConfig, out: Path) -> dict:
    """Train (or resume) into ``out``: ``last.pt`` every epoch, ``best.pt`` on the selection score,
    ``metrics.jsonl`` one line per epoch. Returns the best epoch's metrics."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    backbone = backbone_spec(config.backbone)
    check_features(Path(config.features), config.backbone)
    net = backbone.pretrained()
    top = Top(net, backbone.cut)
    optimiser = torch.optim.AdamW(top.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, best = 0, {"score": -1.0}
    config_path = out / "config.json"
    if (out / "last.pt").is_file():
        check_same_run(out, config, RUN_DEFINING)
        state = torch.load(out / "last.pt", weights_only=True)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        start_epoch, best = int(state["epoch"]) + 1, json.loads(state["best"])
    config_path.write_text(json.dumps(asdict(config), indent=1))
    pool, validation = load_pools(config)
    prior = (pool.targets * pool.weights[:, None]).sum(0) / pool.weights.sum()
    adjustment = torch.from_numpy(config.logit_adjust * np.log(np.maximum(prior, 1e-4))).float()
    steps_per_epoch = math.ceil(len(pool.epoch_rows(np.random.default_rng(0))) / config.batch_size)
    total = steps_per_epoch * config.epochs
    rng = np.random.default_rng(config.seed + start_epoch)
    for epoch in range(start_epoch, config.epochs):
        top.train()
        started, losses = time.time(), []
        order = pool.epoch_rows(rng)
        for step in range(steps_per_epoch):
            global_step = epoch * steps_per_epoch + step
            for group in optimiser.param_groups:
                group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * global_step / total))
            x, targets, weights = batch_of(pool, order[step * config.batch_size:(step + 1) * config.batch_size], rng)
            logits = top(x) + adjustment
            loss = (-(targets * F.log_softmax(logits, dim=1)).sum(1) * weights).sum() / weights.sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        metrics = evaluate(top, validation)
        score = selection_score(metrics)
        line = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": round(time.time() - started, 1),
                "score": score, **metrics}
        print(json.dumps(line), flush=True)
        with open(out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, **metrics}
            save_checkpoint(out / "best.pt", {"net": net.state_dict(), "epoch": epoch})
        save_checkpoint(out / "last.pt", {"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                                          "epoch": epoch, "best": json.dumps(best)})
    net.load_state_dict(torch.load(out / "best.pt", weights_only=True)["net"])
    best["posthoc"] = posthoc_adjustment(top, validation, prior)
    (out / "best.json").write_text(json.dumps(best, indent=1))
    return best


POSTHOC_TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)


def posthoc_adjustment(top: nn.Module, validation: dict, prior: np.ndarray, evaluate_with=None) -> dict:
    """Post-hoc logit adjustment (Menon et al. 2021): subtract ``tau * log(prior)`` from the logits, so rarer
    classes are predicted more often; ``tau`` is chosen on the validation sets by the selection score.
    ``top`` has a ``classifier`` whose [1] is the final linear layer; ``evaluate_with(top, validation)``
    scores it (default: :func:`evaluate` on cached features). Returns the chosen tau, the score of each tau
    tried, and the log prior."""
    evaluate_with = evaluate_with or evaluate
    log_prior = np.log(np.maximum(prior, 1e-4)).astype(np.float32)
    classifier = top.classifier[1]
    original = classifier.bias.detach().clone()
    tried = {}
    try:
        for tau in POSTHOC_TAUS:
            with torch.no_grad():
                classifier.bias.copy_(original - tau * torch.from_numpy(log_prior))
            metrics = evaluate_with(top, validation)
            tried[str(tau)] = {"score": selection_score(metrics), **metrics}
    finally:
        with torch.no_grad():
            classifier.bias.copy_(original)
    chosen = max(POSTHOC_TAUS, key=lambda tau: tried[str(tau)]["score"])
    return {"tau": chosen, "tried": tried, "log_prior": log_prior.tolist()}


# ------------------------------------------------------------------------------------------ export
def export_network(net: nn.Module, out: Path, metadata: dict[str, str], size: int = 112) -> Path:
    """``net`` as one ONNX file with mien's metadata: input ``face`` (N, 3, size, size) RGB in [0, 255], output
    ``logits`` (N, 8) in :data:`mien.schema.EXPRESSIONS` order; written atomically. PReLUs are exported in
    their faster convolution form (:class:`~mien.train.mobilefacenet.ConvPReLU`), checked to give the same
    logits."""
    import onnx

    from mien.align.similarity import ARCFACE_TEMPLATE

    example = torch.rand(4, 3, size, size) * 255
    with torch.no_grad():
        expected = ExportedNet(net.eval())(example)
    model = ExportedNet(with_conv_prelu(copy.deepcopy(net))).eval()
    with torch.no_grad():
        if not torch.allclose(model(example), expected, atol=1e-4):
            raise RuntimeError("the exported form of the network does not reproduce it")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        torch.onnx.export(model, torch.zeros(1, 3, size, size), temporary, input_names=["face"], output_names=["logits"],
                          dynamic_axes={"face": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
        proto = onnx.load(temporary)
        entries = {"mien.task": "expression", "mien.labels": json.dumps(list(EXPRESSIONS)), "mien.crop_size": str(size),
                   "mien.template": json.dumps(ARCFACE_TEMPLATE.tolist()), "mien.input": "rgb", **metadata}
        for key, value in entries.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, temporary)
        os.replace(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return out


def load_best(net: nn.Module, run: Path, metadata: dict[str, str]) -> dict[str, str]:
    """Load ``run/best.pt`` into ``net`` and fold the post-hoc logit adjustment chosen on validation
    (``best.json``) into its classifier's bias; returns ``metadata`` with the chosen tau added."""
    net.load_state_dict(torch.load(run / "best.pt", weights_only=True)["net"])
    posthoc = json.loads((run / "best.json").read_text()).get("posthoc")
    if posthoc and posthoc["tau"]:
        with torch.no_grad():
            net.classifier[1].bias -= posthoc["tau"] * torch.tensor(posthoc["log_prior"])
        metadata = {"mien.logit_adjustment_tau": str(posthoc["tau"]), **metadata}
    return metadata


def run_backbone(run: Path) -> str:
    """The backbone a run was trained on (runs from before the choice: the default)."""
    return json.loads((run / "config.json").read_text()).get("backbone", DEFAULT_BACKBONE)


def export(run: Path, out: Path, metadata: dict[str, str]) -> Path:
    """``run/best.pt`` as a mien ONNX model (see :func:`export_network`), with the post-hoc logit adjustment
    chosen on validation folded in (:func:`load_best`)."""
    net = backbone_spec(run_backbone(run)).empty()
    return export_network(net, out, load_best(net, run, metadata))


if __name__ == "__main__":  # python -m mien.train.facenet_expression ...: the same as mien train facenet-expression ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "facenet-expression"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
