"""Graph surgery on mien's expression ONNX files: read the backbone's features, attach linear heads.

An expression file computes ``feature map -> ReduceMean -> Gemm -> logits``. Extra heads (AUs:
``au_logits``; valence/arousal: ``va``) are linear maps on the flattened feature map, standardised with
their training mean/std, appended to the same graph as further outputs, so every output comes from ONE
forward pass. Because a head is plain ONNX nodes, a new head (retrained on other data) is attached to the
shipped file without PyTorch or the original training checkpoint; attaching a head replaces an existing
head of the same name and keeps the others. Needs the ``onnx`` package (train extra).
"""

from __future__ import annotations

import json

import numpy as np

FEATURES_OUTPUT = "au_features"  # the flattened feature map (name kept from the first shipped file)
HEAD_METADATA_PREFIX = {"au_logits": "mien.au", "va": "mien.va", "eyes": "mien.eyes"}


def _onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError("editing ONNX graphs needs the onnx package: pip install 'mien[train]'") from error
    return onnx


def feature_map_tensor(model) -> str:
    """Name of the 4-D feature map the expression head pools (input of the ReduceMean/GlobalAveragePool
    whose output feeds the node producing ``logits``), or the one the file names in its ``mien.feature_map``
    metadata (an ensemble, whose ``logits`` mix several maps)."""
    named = {p.key: p.value for p in model.metadata_props}.get("mien.feature_map")
    if named is not None:
        if not any(named in node.output for node in model.graph.node):
            raise ValueError(f"the model's mien.feature_map names {named!r}, which no node computes")
        return named
    producers = {out: node for node in model.graph.node for out in node.output}
    head = producers.get("logits")
    if head is None:
        raise ValueError("the model has no 'logits' output")
    for name in head.input:
        pool = producers.get(name)
        if pool is not None and pool.op_type in ("ReduceMean", "GlobalAveragePool"):
            return pool.input[0]
    raise ValueError("could not find the pooled feature map feeding 'logits'")


def _copy_metadata(source, target, drop_prefix: str | None = None) -> None:
    del target.metadata_props[:]
    for prop in source.metadata_props:
        if drop_prefix is None or not prop.key.startswith(drop_prefix):
            entry = target.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value


def keep_outputs(model, outputs: list[str], drop_prefix: str | None = None):
    """The subgraph computing ``outputs`` only (unused nodes pruned), metadata kept (minus ``drop_prefix``)."""
    onnx = _onnx()
    extracted = onnx.utils.Extractor(model).extract_model([model.graph.input[0].name], outputs)
    del extracted.opset_import[:]
    extracted.opset_import.extend(model.opset_import)
    _copy_metadata(model, extracted, drop_prefix)
    return extracted


def expression_only(model):
    """The expression part of a multi-task file: input -> logits, without any head's metadata."""
    stripped = keep_outputs(model, ["logits"])
    _copy_metadata(model, stripped)
    kept = [(p.key, p.value) for p in stripped.metadata_props
            if not any(p.key.startswith(prefix) for prefix in HEAD_METADATA_PREFIX.values())]
    del stripped.metadata_props[:]
    for key, value in kept:
        entry = stripped.metadata_props.add()
        entry.key, entry.value = key, value
    return stripped


def _ensure_features(model) -> None:
    """Add ``Flatten(feature map) -> au_features`` unless the graph already computes it."""
    from onnx import helper

    if any(FEATURES_OUTPUT in node.output for node in model.graph.node):
        return
    model.graph.node.append(helper.make_node("Flatten", [feature_map_tensor(model)], [FEATURES_OUTPUT], axis=1,
                                             name="features_flatten"))


def with_features_output(model):
    """``model`` (all its outputs kept) plus an output ``au_features``: the flattened feature map, (N, C*h*w)."""
    onnx = _onnx()
    from onnx import helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    _ensure_features(copy)
    if FEATURES_OUTPUT not in [o.name for o in copy.graph.output]:
        copy.graph.output.append(helper.make_tensor_value_info(FEATURES_OUTPUT, onnx.TensorProto.FLOAT, ["batch", "features"]))
    return copy


def attach_linear_head(model, output: str, weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray,
                       metadata: dict[str, str], clip: tuple[float, float] | None = None):
    """``model`` with ``output = ((features - mean) / std) @ weight.T + bias`` (optionally clipped) added or
    replaced; the other outputs and their metadata are kept. ``weight``: (K, D); ``bias``: (K,);
    ``mean``/``std``: (D,) over flattened feature maps of size D."""
    onnx = _onnx()
    from onnx import helper, numpy_helper

    others = [o.name for o in model.graph.output if o.name not in (output, FEATURES_OUTPUT)]
    result = keep_outputs(model, others, drop_prefix=HEAD_METADATA_PREFIX.get(output))
    _ensure_features(result)
    prefix = f"{output}_head"
    values = {f"{prefix}_mean": mean, f"{prefix}_std": std, f"{prefix}_weight_t": weight.T, f"{prefix}_bias": bias}
    for name, value in values.items():
        result.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
    linear = f"{prefix}_linear" if clip else output
    result.graph.node.extend([
        helper.make_node("Sub", [FEATURES_OUTPUT, f"{prefix}_mean"], [f"{prefix}_centred"], name=f"{prefix}_sub"),
        helper.make_node("Div", [f"{prefix}_centred", f"{prefix}_std"], [f"{prefix}_scaled"], name=f"{prefix}_div"),
        helper.make_node("MatMul", [f"{prefix}_scaled", f"{prefix}_weight_t"], [f"{prefix}_product"],
                         name=f"{prefix}_matmul"),
        helper.make_node("Add", [f"{prefix}_product", f"{prefix}_bias"], [linear], name=f"{prefix}_add"),
    ])
    if clip:
        bounds = {f"{prefix}_low": np.float32(clip[0]), f"{prefix}_high": np.float32(clip[1])}
        for name, value in bounds.items():
            result.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), name))
        result.graph.node.append(helper.make_node("Clip", [linear, f"{prefix}_low", f"{prefix}_high"], [output],
                                                  name=f"{prefix}_clip"))
    result.graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, ["batch", len(bias)]))
    for key, value in metadata.items():
        entry = result.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(result)
    return result


def with_au_head(model, weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 aus: list[int], thresholds: list[float], metadata: dict[str, str]):
    """``model`` with the AU head ``au_logits`` (logits of each AU's presence) attached or replaced."""
    values = {"mien.aus": json.dumps(list(aus)), "mien.au_thresholds": json.dumps([float(t) for t in thresholds]),
              **metadata}
    return attach_linear_head(model, "au_logits", weight, bias, mean, std, values)


def with_va_head(model, weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 metadata: dict[str, str]):
    """``model`` with a valence/arousal head ``va`` ((N, 2), clipped to [-1, 1]) attached or replaced;
    ``metadata`` must name the method (``mien.va_method``) and its training data."""
    if "mien.va_method" not in metadata:
        raise ValueError("a valence/arousal head needs metadata 'mien.va_method' (shown in every result)")
    return attach_linear_head(model, "va", weight, bias, mean, std, metadata, clip=(-1.0, 1.0))


def save_model(model, path) -> None:
    """Write a ModelProto to ``path`` atomically (an exclusive temporary file, then renamed onto it)."""
    from mien.files import write_atomic

    write_atomic(path, model.SerializeToString())


def session_from_model(model, threads: int = 2):
    """An onnxruntime session on an in-memory ModelProto."""
    from mien.models.runtime import create_session

    return create_session(model.SerializeToString(), threads)
