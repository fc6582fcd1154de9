"""Two trained 112-px expression runs as one model: the weighted mean of their probabilities.

Networks pretrained differently (the RAF-DB expression MobileFaceNet, the SFace face-recognition network)
make different mistakes, so their mean is more accurate than either; the cost is the sum of theirs. The
weights are chosen on the validation sets (:func:`choose_weight`), never on a test split.

    python -m mien.train.ensemble --run runs/mfn_a --features data_cache/trunk14 \
        --run runs/sface_a --features data_cache/sface9 --out model.onnx      # = mien train ensemble ...

The exported file is a mien expression model like any other: input ``face`` (N, 3, 112, 112) RGB in
[0, 255], output ``logits`` (the log of the mean probability, so mien's softmax gives the mean back). Its
metadata ``mien.feature_map`` names the first run's pooled feature map, which the AU, eye and
valence/arousal heads read (:func:`mien.models.heads.feature_map_tensor`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mien.train.facenet_expression import (Top, backbone_of, backbone_spec, export_network, load_best, probabilities,
                                           run_backbone, selection_score, validation_metrics, validation_sets)

WEIGHT_GRID = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)  # the first run's share


class MeanOfProbabilities(nn.Module):
    """``log(sum_i w_i softmax(net_i(x)))`` for networks taking (N, 3, 112, 112) in [-1, 1]."""

    def __init__(self, nets: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        if len(nets) != len(weights) or not np.isclose(sum(weights), 1.0) or min(weights) < 0:
            raise ValueError(f"ensemble weights {list(weights)} must be one per network, >= 0, summing to 1")
        self.nets = nn.ModuleList(nets)
        self.register_buffer("weights", torch.tensor(list(weights), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(net(x), dim=1) for net in self.nets], dim=0)
        return torch.log((probs * self.weights[:, None, None]).sum(0).clamp_min(1e-12))


def trained_network(run: Path) -> tuple[nn.Module, dict[str, str]]:
    """A run's best network, its post-hoc logit adjustment folded in, and the metadata that records it."""
    net = backbone_spec(run_backbone(run)).empty()
    return net.eval(), load_best(net, run, {})


def validation_seed(runs: Sequence[Path]) -> int:
    """The seed that carved the runs' RAF-DB validation split; runs carved differently (another seed, or a
    ``limit``) are refused, since each would then have trained on part of the other's validation faces."""
    configs = [json.loads((run / "config.json").read_text()) for run in runs]
    carvings = {(c.get("seed", 0), c.get("limit")) for c in configs}
    if len(carvings) != 1 or next(iter(carvings))[1] is not None:
        raise ValueError(f"the runs {[str(r) for r in runs]} did not carve the same full validation split "
                         f"(seed, limit: {sorted(carvings, key=str)}); train them with one --seed and no --limit")
    return next(iter(carvings))[0]


def validation_probabilities(run: Path, validation: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """The run's probabilities on each validation set of :func:`~mien.train.facenet_expression.validation_sets`
    (built from that run's own cached features)."""
    net, _ = trained_network(run)
    top = Top(net, backbone_spec(run_backbone(run)).cut).eval()
    return {name: probabilities(top, features) for name, (features, _) in validation.items()}


def run_features(run: Path, features: Path) -> Path:
    """``features``, checked to come from the backbone ``run`` was trained on."""
    if backbone_of(features) != run_backbone(run):
        raise ValueError(f"{features} holds {backbone_of(features)} features, but {run} was trained on "
                         f"{run_backbone(run)}: give each --run its own --features")
    return features


def ensemble_metrics(probs: Sequence[dict[str, np.ndarray]], weights: Sequence[float],
                     labels: dict[str, np.ndarray]) -> dict:
    """The trainers' validation metrics and selection score of the weighted mean of ``probs``."""
    mean = {name: sum(w * p[name] for w, p in zip(weights, probs)) for name in labels}
    metrics = validation_metrics(mean, labels)
    return {"score": selection_score(metrics), **metrics}


def choose_weight(probs: Sequence[dict[str, np.ndarray]], labels: dict[str, np.ndarray]) -> dict:
    """The first of two runs' share in :data:`WEIGHT_GRID` with the best validation score, and every score."""
    if len(probs) != 2:
        raise ValueError("choose_weight compares two runs")
    tried = {str(w): ensemble_metrics(probs, (w, 1 - w), labels) for w in WEIGHT_GRID}
    best = max(WEIGHT_GRID, key=lambda w: tried[str(w)]["score"])
    return {"weight": best, "tried": tried}


def export_ensemble(runs: Sequence[Path], weights: Sequence[float], out: Path, metadata: dict[str, str]) -> Path:
    """The runs' weighted mean as one mien ONNX model (see the module docstring)."""
    import onnx

    from mien.train.calibrate import write_metadata

    nets, notes = zip(*(trained_network(run) for run in runs))
    taus = [note.get("mien.logit_adjustment_tau", "0") for note in notes]
    entries = {"mien.ensemble": json.dumps({"runs": [str(r) for r in runs], "weights": list(weights),
                                            "backbones": [run_backbone(r) for r in runs], "logit_adjustment_tau": taus}),
               **metadata}
    export_network(MeanOfProbabilities(nets, weights), out, entries)
    write_metadata(out, {"mien.feature_map": first_network_map(onnx.load(str(out)))})
    return out


def first_network_map(model) -> str:
    """The feature map the first network's classifier pools (the heads read it): the input of the pooling node
    inside ``nets.0`` whose output feeds that network's classifier."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in model.graph.node:
        if node.op_type in ("ReduceMean", "GlobalAveragePool") and node.name.startswith("/net/nets.0/"):
            if any("/nets.0/classifier" in c.name for c in consumers.get(node.output[0], [])):
                return node.input[0]
    raise ValueError("the exported ensemble has no pooled feature map feeding its first network's classifier")


def build(runs: Sequence[Path], features: Sequence[Path], faces: Path, out: Path, report: Path | None = None,
          metadata: dict[str, str] | None = None) -> dict:
    """Choose the first run's share on validation (:func:`choose_weight`), write the mixed model to ``out``
    and the score of every share tried to ``report``; returns the chosen share's validation metrics."""
    if len(runs) != 2 or len(features) != 2:
        raise ValueError("an ensemble is built from exactly two runs, each with its cached features")
    torch.set_num_threads(2)
    seed = validation_seed(runs)
    probs, labels = [], {}
    for run, feature_dir in zip(runs, features):
        validation = validation_sets(run_features(run, feature_dir), faces, seed)
        probs.append(validation_probabilities(run, validation))
        labels = {name: truth for name, (_, truth) in validation.items()}  # the same for every run
    choice = choose_weight(probs, labels)
    weight = choice["weight"]
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        sources = {"runs": [str(r) for r in runs], "features": [str(f) for f in features]}
        report.write_text(json.dumps({**sources, **choice}, indent=1))
    export_ensemble(runs, (weight, 1 - weight), out, metadata or {})
    return {"weight": weight, **choice["tried"][str(weight)]}


if __name__ == "__main__":  # python -m mien.train.ensemble ...: the same as mien train ensemble ...
    import runpy
    import sys

    sys.argv[1:1] = ["train", "ensemble"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
