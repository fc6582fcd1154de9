"""Micro-expression recognition on MEGC2019: leave-one-subject-out training, evaluation and the shipped model.

Input is the onset-to-apex flow image (u, v, optical strain; each channel min-max normalised to 0..255,
28x28), the STSTNet-style representation the MEGC2019 composite distributes. The network is small
(a few tens of thousands of weights) because the whole benchmark has 442 samples; it trains in seconds
per fold on a CPU.

Protocol: for each of the 68 subjects, train on the other 67 for a FIXED number of epochs (no early
stopping, no epoch chosen on the held-out subject: that leaks the test fold and is how some published
numbers were obtained), predict the held-out subject, then score all pooled predictions with UF1 / UAR on
the composite and per source dataset. ``--seeds`` repeats the whole run to report the variance.

    python -m mien.train.micro --root ../shared/datasets/megc2019 --out runs/micro --seeds 0 1 2
    python -m mien.train.micro --root ../shared/datasets/megc2019 --out runs/micro --final   # shipped model
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mien.datasets.megc2019 import MICRO_CLASSES, SOURCE_DATASETS, load_flows, read_labels
from mien.eval.metrics import classification_report
from mien.io.writers import write_atomic
from mien.train.configs import MicroConfig


def _log(message: str) -> None:
    print(message, flush=True)


class MicroNet(nn.Module):
    """Three conv stages (28 -> 14 -> 7) and a linear head over pooled features.

    Input: (N, 3, 28, 28) float flow image in 0..255 (u, v, strain), the ONNX file's convention.
    """

    def __init__(self, width: int = 32, dropout: float = 0.3, num_classes: int = 3) -> None:
        super().__init__()

        def block(inp: int, out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(inp, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True))

        w = width
        self.features = nn.Sequential(
            block(3, w), nn.MaxPool2d(2),
            block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2),
            block(2 * w, 4 * w),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * w, num_classes))

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        x = flow / 127.5 - 1.0
        return self.head(self.features(x).mean(dim=(2, 3)))


def flip_flows(batch: torch.Tensor) -> torch.Tensor:
    """Mirror left-right. Horizontal flow changes sign, which on a min-max normalised channel is 255 - u."""
    flipped = batch.flip(-1).clone()
    flipped[:, 0] = 255.0 - flipped[:, 0]
    return flipped


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random mirror and a small random shift (up to 2 px, edge-replicated)."""
    b = batch.shape[0]
    mirror = torch.rand(b, generator=generator) < 0.5
    batch = torch.where(mirror[:, None, None, None], flip_flows(batch), batch)
    padded = F.pad(batch, (2, 2, 2, 2), mode="replicate")
    dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def train_model(flows: np.ndarray, labels: np.ndarray, config: MicroConfig, seed: int) -> MicroNet:
    """Train a MicroNet on (N, 28, 28, 3) uint8 flows for ``config.epochs`` epochs; returns it in eval mode."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MicroNet(config.width, config.dropout, len(MICRO_CLASSES))
    x = torch.from_numpy(flows).permute(0, 3, 1, 2).float()
    y = torch.from_numpy(labels).long()
    counts = np.bincount(labels, minlength=len(MICRO_CLASSES)).astype(np.float32)
    weights = torch.from_numpy(counts.sum() / (len(counts) * np.maximum(counts, 1))) if config.class_weighted else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = int(np.ceil(len(x) / config.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * steps_per_epoch)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            index = order[start:start + config.batch_size]
            if len(index) < 2:
                continue  # BatchNorm needs two samples
            batch, target = x[index], F.one_hot(y[index], len(MICRO_CLASSES)).float()
            if config.augment:
                batch = augment(batch, generator)
            if config.mixup > 0:
                lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator))).beta(
                    config.mixup, config.mixup))
                perm = torch.randperm(len(batch), generator=generator)
                batch, target = lam * batch + (1 - lam) * batch[perm], lam * target + (1 - lam) * target[perm]
            logits = model(batch)
            smoothed = target * (1 - config.label_smoothing) + config.label_smoothing / len(MICRO_CLASSES)
            per_sample = -(smoothed * F.log_softmax(logits, dim=1))
            loss = (per_sample * weights).sum(1).mean() if weights is not None else per_sample.sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


@torch.no_grad()
def predict_probabilities(model: MicroNet, flows: np.ndarray, tta: bool = True) -> np.ndarray:
    """(N, 3) class probabilities; with ``tta`` averaged with the mirrored input."""
    x = torch.from_numpy(flows).permute(0, 3, 1, 2).float()
    probabilities = F.softmax(model(x), dim=1)
    if tta:
        probabilities = (probabilities + F.softmax(model(flip_flows(x)), dim=1)) / 2
    return probabilities.numpy()


def loso(root: Path, config: MicroConfig, seed: int, log=None, subjects_limit: int | None = None) -> dict:
    """Leave-one-subject-out over every subject; returns per-sample predictions and the scores."""
    log = log or _log
    samples = read_labels(root)
    flows = load_flows(root, samples)
    labels = np.array([s.label for s in samples])
    subjects = np.array([s.subject for s in samples])
    probabilities = np.zeros((len(samples), len(MICRO_CLASSES)), np.float32)
    started = time.time()
    held_out = sorted(set(subjects))[:subjects_limit]  # a limit is for smoke tests only
    for k, subject in enumerate(held_out):
        test = subjects == subject
        model = train_model(flows[~test], labels[~test], config, seed=seed * 1000 + k)
        probabilities[test] = predict_probabilities(model, flows[test])
        if (k + 1) % 17 == 0:
            log(f"  seed {seed}: {k + 1} subjects, {time.time() - started:.0f} s")
    if subjects_limit is not None:
        keep = np.isin(subjects, held_out)
        samples, labels, probabilities = [s for s, k in zip(samples, keep) if k], labels[keep], probabilities[keep]
    scores = micro_scores(samples, labels, probabilities.argmax(1))
    return {"seed": seed, "seconds": round(time.time() - started, 1), "scores": scores,
            "predictions": [{"stem": s.flow_stem, "label": int(s.label), "probabilities": p.round(4).tolist()}
                            for s, p in zip(samples, probabilities)]}


def micro_scores(samples, labels: np.ndarray, predictions: np.ndarray) -> dict:
    """UF1 and UAR (MEGC2019 definitions) on the composite and on each source dataset."""
    datasets = np.array([s.dataset for s in samples])
    scores = {}
    for name, mask in [("composite", np.ones(len(samples), bool))] + [(d, datasets == d) for d in SOURCE_DATASETS]:
        report = classification_report(labels[mask], predictions[mask], MICRO_CLASSES)
        scores[name] = {"uf1": round(report["macro_f1"], 4), "uar": round(report["uar"], 4), "n": int(mask.sum())}
    return scores


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds, per dataset and metric."""
    summary = {}
    for name in runs[0]["scores"]:
        summary[name] = {}
        for metric in ("uf1", "uar"):
            values = np.array([r["scores"][name][metric] for r in runs])
            summary[name][metric] = {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4)}
        summary[name]["n"] = runs[0]["scores"][name]["n"]
    return summary


def export_micro_onnx(model: MicroNet, out: Path, metadata: dict[str, str]) -> Path:
    """ONNX with the metadata :class:`mien.micro.recognize.MicroModel` checks; verified against PyTorch."""
    import onnx
    import onnxruntime as ort

    example = torch.rand(2, 3, 28, 28) * 255
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(model, (example,), str(tmp), input_names=["flow"], output_names=["logits"],
                      dynamic_axes={"flow": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    graph = onnx.load(str(tmp))
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))
    with torch.no_grad():
        expected = model(example).numpy()
    got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"flow": example.numpy()})[0]
    if not np.allclose(expected, got, atol=1e-4):
        raise RuntimeError(f"ONNX output differs from PyTorch by {np.abs(expected - got).max():.2e}")
    tmp.replace(out)
    return out


def train_final(root: Path, out: Path, config: MicroConfig, seed: int = 0) -> Path:
    """Train on all 442 samples with the LOSO-validated recipe and export ``out/micro-megc2019.onnx``."""
    samples = read_labels(root)
    flows = load_flows(root, samples)
    labels = np.array([s.label for s in samples])
    model = train_model(flows, labels, config, seed=seed)
    metadata = {
        "mien.task": "micro",
        "mien.labels": json.dumps(list(MICRO_CLASSES)),
        "mien.input": "flow: (N, 3, 28, 28) float32 u, v, optical strain, each min-max normalised to 0..255",
        "mien.flow": "farneback",
        "mien.training_data": "MEGC2019 composite (CASME II, SAMM, SMIC-HS), all 442 samples, 68 subjects",
        "mien.config": json.dumps(asdict(config)),
        "mien.seed": str(seed),
    }
    return export_micro_onnx(model, out / "micro-megc2019.onnx", metadata)


def _seed_cache(output: Path | None, seed: int) -> Path | None:
    return None if output is None else output.with_name(f"{output.stem}.seed{seed}.json")


def _run_seed(arguments: tuple) -> dict:
    root, config, seed, threads, cache = arguments
    torch.set_num_threads(threads)
    run = loso(root, config, seed)
    run["config"] = asdict(config)
    if cache is not None:
        write_atomic(cache, json.dumps(run))
    return run


def evaluate_loso(root: Path, seeds: list[int], output: Path | None = None, config: MicroConfig | None = None,
                  threads: int = 1, jobs: int | None = None, log=None) -> dict:
    """The MEGC2019 protocol once per seed: prints UF1/UAR per seed and the mean/std; writes JSON.

    Seeds run in parallel processes (``jobs``, default: one per seed up to the core count), each with
    ``threads`` torch threads. Each finished seed is cached next to ``output`` (``<stem>.seed<k>.json``)
    and reused by a rerun with the same settings, so an interrupted evaluation loses at most one seed.
    """
    import multiprocessing
    import os

    log = log or _log
    config = config or MicroConfig()
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[int, dict] = {}
    for seed in seeds:
        cache = _seed_cache(output, seed)
        if cache is not None and cache.is_file():
            cached = json.loads(cache.read_text())
            if cached.get("config") == asdict(config):
                runs[seed] = cached
                log(f"seed {seed}: reusing {cache}")
    missing = [seed for seed in seeds if seed not in runs]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(missing) or 1))
    work = [(root, config, seed, threads, _seed_cache(output, seed)) for seed in missing]
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            finished = pool.map(_run_seed, work)
    else:
        finished = [_run_seed(item) for item in work]
    runs.update({item[2]: run for item, run in zip(work, finished)})
    ordered = [runs[seed] for seed in seeds]
    for seed, run in zip(seeds, ordered):
        log(f"seed {seed}: " + ", ".join(f"{k} UF1 {v['uf1']:.3f} UAR {v['uar']:.3f}" for k, v in run["scores"].items()))
    result = {"protocol": "MEGC2019 composite, leave-one-subject-out over 68 subjects, fixed epochs",
              "config": asdict(config), "seeds": list(seeds), "summary": summarise(ordered), "runs": ordered}
    for name, row in result["summary"].items():
        log(f"{name:9s} (n={row['n']}): UF1 {row['uf1']['mean']:.4f} ± {row['uf1']['std']:.4f}   "
            f"UAR {row['uar']['mean']:.4f} ± {row['uar']['std']:.4f}")
    if output:
        write_atomic(output, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":  # python -m mien.train.micro ...: the same as mien train micro ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "micro"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
