"""Export a trained checkpoint to ONNX with the metadata mien's runtime checks at load time.

    python -m mien.train.export runs/expr/best.pt --out src/mien/models/weights/expression_mnv2_64.onnx

The metadata (``mien.*`` keys) carries the task, class names, crop size, alignment template and input
convention, so the inference side never guesses them from tensor shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mien.schema import EXPRESSIONS
from mien.train.checkpoint import load_checkpoint
from mien.train.nets import ExpressionNet, build_network


def load_checkpoint_model(checkpoint_path: Path) -> tuple[ExpressionNet, dict]:
    checkpoint = load_checkpoint(checkpoint_path)
    config = checkpoint["config"]
    model = ExpressionNet(build_network(config["backbone"], len(EXPRESSIONS), pretrained=False))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, checkpoint


def expression_metadata(config: dict, extra: dict | None = None) -> dict[str, str]:
    metadata = {
        "mien.task": "expression",
        "mien.labels": json.dumps(list(EXPRESSIONS)),
        "mien.crop_size": str(config["size"]),
        "mien.template": json.dumps(np.round(np.asarray(config["template"]), 6).tolist()),
        "mien.input": "gray",  # (N, 1, S, S) float32 grayscale in [0, 255]; normalisation is in the graph
        "mien.backbone": config["backbone"],
    }
    metadata.update({f"mien.{k}": str(v) for k, v in (extra or {}).items()})
    return metadata


def export_onnx(checkpoint_path: Path, out: Path, extra_metadata: dict | None = None) -> Path:
    import onnx
    import onnxruntime as ort

    model, checkpoint = load_checkpoint_model(checkpoint_path)
    size = int(checkpoint["config"]["size"])
    example = torch.rand(2, 1, size, size) * 255
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(
        model, (example,), str(tmp), input_names=["face"], output_names=["logits"],
        dynamic_axes={"face": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
    )
    graph = onnx.load(str(tmp))
    for key, value in expression_metadata(checkpoint["config"], extra_metadata).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))

    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(example).numpy()
    got = session.run(None, {"face": example.numpy()})[0]
    if not np.allclose(expected, got, atol=1e-3):
        raise RuntimeError(f"ONNX output differs from PyTorch by {np.abs(expected - got).max():.2e}")
    tmp.replace(out)
    return out


if __name__ == "__main__":  # python -m mien.train.export ...: the same as mien export ...
    import runpy
    import sys

    sys.argv[1:1] = ["export"]  # the command line lives in mien.cli (named, not imported, here)
    runpy.run_module("mien.cli", run_name="__main__", alter_sys=True)
