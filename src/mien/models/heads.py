"""Graph surgery on mien's expression ONNX files: read the backbone's features, attach an AU head.

An expression file computes ``feature map -> ReduceMean -> Gemm -> logits``. The AU head is a linear map
on the flattened feature map (standardised with the training mean/std), appended to the same graph as a
second output ``au_logits``, so expressions and AUs come from ONE forward pass. Because the head is
plain ONNX nodes, a new head (retrained on other AU data) is attached to the shipped file without
PyTorch or the original training checkpoint. Needs the ``onnx`` package (train extra).
"""

from __future__ import annotations

import json

import numpy as np

FEATURES_OUTPUT = "au_features"


def _onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError("editing ONNX graphs needs the onnx package: pip install 'mien[train]'") from error
    return onnx


def feature_map_tensor(model) -> str:
    """Name of the 4-D feature map the expression head pools (input of the ReduceMean/GlobalAveragePool
    whose output feeds the node producing ``logits``)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    head = producers.get("logits")
    if head is None:
        raise ValueError("the model has no 'logits' output")
    for name in head.input:
        pool = producers.get(name)
        if pool is not None and pool.op_type in ("ReduceMean", "GlobalAveragePool"):
            return pool.input[0]
    raise ValueError("could not find the pooled feature map feeding 'logits'")


def expression_only(model):
    """The expression part of a (possibly multi-task) file: input -> logits, metadata kept."""
    onnx = _onnx()
    extracted = onnx.utils.Extractor(model).extract_model([model.graph.input[0].name], ["logits"])
    del extracted.opset_import[:]
    extracted.opset_import.extend(model.opset_import)
    del extracted.metadata_props[:]
    keep = {p.key: p.value for p in model.metadata_props if not p.key.startswith("mien.au")}
    for key, value in keep.items():
        entry = extracted.metadata_props.add()
        entry.key, entry.value = key, value
    return extracted


def with_features_output(model):
    """Expression-only graph plus an output ``au_features``: the flattened feature map, (N, C*h*w)."""
    onnx = _onnx()
    from onnx import helper

    base = expression_only(model)
    feature_map = feature_map_tensor(base)
    base.graph.node.append(helper.make_node("Flatten", [feature_map], [FEATURES_OUTPUT], axis=1, name="au_flatten"))
    base.graph.output.append(helper.make_tensor_value_info(FEATURES_OUTPUT, onnx.TensorProto.FLOAT, ["batch", "features"]))
    return base


def with_au_head(model, weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 aus: list[int], thresholds: list[float], metadata: dict[str, str]):
    """A multi-task file: ``model``'s expression graph plus ``au_logits = ((f - mean) / std) @ weight.T + bias``.

    ``weight``: (A, D); ``bias``: (A,); ``mean``/``std``: (D,) over flattened feature maps of size D.
    """
    onnx = _onnx()
    from onnx import helper, numpy_helper

    graph_model = with_features_output(model)
    graph = graph_model.graph
    del graph.output[1:]  # keep logits; the features become an internal tensor
    tensors = {"au_mean": mean, "au_std": std, "au_weight_t": weight.T, "au_bias": bias}
    for name, value in tensors.items():
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
    graph.node.extend([
        helper.make_node("Sub", [FEATURES_OUTPUT, "au_mean"], ["au_centred"], name="au_sub"),
        helper.make_node("Div", ["au_centred", "au_std"], ["au_scaled"], name="au_div"),
        helper.make_node("MatMul", ["au_scaled", "au_weight_t"], ["au_linear"], name="au_matmul"),
        helper.make_node("Add", ["au_linear", "au_bias"], ["au_logits"], name="au_add"),
    ])
    graph.output.append(helper.make_tensor_value_info("au_logits", onnx.TensorProto.FLOAT, ["batch", len(aus)]))
    values = {"mien.aus": json.dumps(list(aus)), "mien.au_thresholds": json.dumps([float(t) for t in thresholds]),
              **metadata}
    for key, value in values.items():
        entry = graph_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph_model)
    return graph_model


def session_from_model(model, threads: int = 2):
    """An onnxruntime session on an in-memory ModelProto."""
    from mien.models.runtime import create_session

    return create_session(model.SerializeToString(), threads)
