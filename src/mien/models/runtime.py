"""onnxruntime sessions with explicit thread control, shared by every ONNX backend.

Model files are code, in effect: a graph decides how much memory and time a run takes. mien refuses graphs
with control flow (``Loop``, ``If``, ``Scan``: a loop can be told to run 10^12 times) and reports a file
onnxruntime cannot load (bad protobuf, external data outside the model's folder, allocation failures) as a
:class:`ModelError` naming the file; beyond that, load only model files from sources you trust.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

CONTROL_FLOW_OPS = frozenset({"Loop", "If", "Scan"})


class ModelError(ValueError):
    """An ONNX model that cannot be loaded or run; the message names the file and the reason."""


def default_threads() -> int:
    """Intra-op threads when the user gives none: ``MIEN_THREADS`` or all cores, at most 8."""
    env = os.environ.get("MIEN_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(8, os.cpu_count() or 1))


def create_session(model: bytes | str | Path, threads: int | None = None, device: str = "cpu"):
    """Open an ONNX model (bytes or path) on ``device`` ("cpu" or "cuda") with ``threads`` intra-op threads.

    Raises :class:`ModelError` (naming the file) for a graph with control flow or one onnxruntime refuses.
    """
    import onnxruntime as ort

    name = "<model bytes>" if isinstance(model, bytes) else str(model)
    refuse_control_flow(model if isinstance(model, bytes) else _read_model(model), name)
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
    try:
        return ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime's Fail, InvalidGraph, InvalidProtobuf, NoSuchFile, RuntimeException
        raise ModelError(f"{name}: onnxruntime cannot load this model ({first_line(error)})") from None


def first_line(error: BaseException) -> str:
    """An exception's first line (onnxruntime's messages run on with internal details), with its type."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_model(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ModelError(f"{path}: cannot read the model file ({error.strerror or error})") from None


def refuse_control_flow(model: bytes, name: str) -> None:
    """Raise :class:`ModelError` when the graph (or one of its functions) has a Loop, If or Scan node."""
    try:
        found = sorted({op for op in _op_types(memoryview(model)) if op in CONTROL_FLOW_OPS})
    except (IndexError, ValueError, UnicodeDecodeError):
        raise ModelError(f"{name}: not an ONNX model (malformed protobuf)") from None
    if found:
        raise ModelError(f"{name}: the graph has control-flow operators ({', '.join(found)}), which mien refuses: "
                         "their run time and memory are set by the model file, not by the input")


# ONNX protobuf field numbers: ModelProto.graph = 7, ModelProto.functions = 25, GraphProto.node = 1,
# FunctionProto.node = 7, NodeProto.op_type = 4. Read with a minimal wire-format walker, so the check needs
# no ``onnx`` package (it is not a runtime dependency) and skips the weights without copying them.
def _op_types(model: memoryview) -> Iterator[str]:
    for field, value in _fields(model):
        if field in (7, 25):
            for inner, node in _fields(value):
                if inner == (1 if field == 7 else 7):
                    yield from (bytes(v).decode() for f, v in _fields(node) if f == 4)


def _fields(message: memoryview) -> Iterator[tuple[int, memoryview]]:
    """``(field number, bytes)`` of a message's length-delimited fields (other wire types skipped)."""
    position, end = 0, len(message)
    while position < end:
        key, position = _varint(message, position)
        wire = key & 7
        if wire == 0:
            _, position = _varint(message, position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == 2:
            length, position = _varint(message, position)
            if position + length > end:
                raise ValueError("field runs past the end of its message")
            yield key >> 3, message[position:position + length]
            position += length
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def session_metadata(session) -> dict[str, str]:
    """The custom metadata (key/value strings) stored in an ONNX model, e.g. labels and normalisation."""
    return dict(session.get_modelmeta().custom_metadata_map)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)
