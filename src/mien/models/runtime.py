"""onnxruntime sessions with explicit thread control, shared by every ONNX backend."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def default_threads() -> int:
    """Intra-op threads when the user gives none: ``MIEN_THREADS`` or all cores, at most 8."""
    env = os.environ.get("MIEN_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(8, os.cpu_count() or 1))


def create_session(model: bytes | str | Path, threads: int | None = None, device: str = "cpu"):
    """Open an ONNX model (bytes or path) on ``device`` ("cpu" or "cuda") with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # onnxruntime's worker threads busy-wait after each run by default. mien runs several sessions one
    # after another (detector, expression model, ...), so spinning threads of one steal the cores the
    # next needs: measured on 2 cores, 29.4 -> 16.6 ms per 640x480 image with spinning off.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("device='cuda' asked for, but this onnxruntime build has no CUDA provider")
        providers.insert(0, "CUDAExecutionProvider")
    elif device != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=providers)


def session_metadata(session) -> dict[str, str]:
    """The custom metadata (key/value strings) stored in an ONNX model, e.g. labels and normalisation."""
    return dict(session.get_modelmeta().custom_metadata_map)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)
