"""Reliability probes for model files: metadata out of range, loops, files onnxruntime cannot load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mien.schema import EXPRESSIONS

# --------------------------------------------------------------------------- model files
EXPRESSION_METADATA = {"mien.task": "expression", "mien.crop_size": "8", "mien.input": "gray",
                       "mien.labels": json.dumps(list(EXPRESSIONS)),
                       "mien.template": json.dumps([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])}


def expression_onnx(path: Path, metadata: dict[str, str] | None = None, loop: int = 0,
                    external: str | None = None) -> Path:
    """A tiny linear expression model (gray 8x8 -> 8 logits) with ``metadata``; ``loop``: its logits pass
    through a Loop of that many iterations; ``external``: its weights are said to lie in that file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full((64, 8), 0.01, np.float32), "w")
    if external:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", str(64 * 8 * 4))):
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    nodes = [helper.make_node("Flatten", ["face"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits" if not loop else "scores"])]
    initializers = [weights]
    if loop:
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["x_in"], ["x_out"])],
            "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                     helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None)])
        nodes.append(helper.make_node("Loop", ["trips", "keep_going", "scores"], ["logits"], body=body))
        initializers += [numpy_helper.from_array(np.array(loop, np.int64), "trips"),
                         numpy_helper.from_array(np.array(True), "keep_going")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8])],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {**EXPRESSION_METADATA, **(metadata or {})}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def test_a_tiny_valid_expression_model_loads_and_runs(tmp_path):
    from mien.models.expression import ExpressionModel

    model = ExpressionModel(expression_onnx(tmp_path / "fine.onnx"), threads=1)
    assert model.predict(np.full((2, 8, 8, 3), 100, np.uint8)).shape == (2, 8)


@pytest.mark.parametrize("change,message", [
    ({"mien.crop_size": "60000"}, "mien.crop_size=60000 is outside 8..512"),
    ({"mien.crop_size": "4"}, "outside 8..512"),
    ({"mien.template": json.dumps([[0.3, 0.4], [0.7, 0.4], [0.5, 1e30], [0.35, 0.8], [0.65, 0.8]])}, "template"),
    ({"mien.temperature": "0"}, "mien.temperature=0 is outside"),
    ({"mien.temperature": "nan"}, "mien.temperature=nan is outside"),
    ({"mien.uncertain_below": "7"}, "mien.uncertain_below=7 is outside 0..1"),
])
def test_model_metadata_out_of_range_is_refused_naming_the_file(tmp_path, change, message):
    from mien.models.expression import ExpressionModel, ModelFormatError

    path = expression_onnx(tmp_path / "ranged.onnx", change)
    with pytest.raises(ModelFormatError, match=message) as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)


def test_a_model_with_a_loop_is_refused_before_it_can_run(tmp_path):
    from mien.models.expression import ExpressionModel
    from mien.models.runtime import ModelError

    path = expression_onnx(tmp_path / "loop.onnx", loop=10**12)
    with pytest.raises(ModelError, match=r"control-flow operators \(Loop\)") as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)


def test_a_model_onnxruntime_cannot_load_is_a_clear_error_naming_the_file(tmp_path, pyfeat_media, capsys):
    from mien.cli import main
    from mien.models.expression import ExpressionModel
    from mien.models.runtime import ModelError

    (tmp_path / "models").mkdir()
    path = expression_onnx(tmp_path / "models" / "outside.onnx", external="../weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 64 * 8 * 4)
    with pytest.raises(ModelError, match="onnxruntime cannot load this model") as refused:
        ExpressionModel(path, threads=1)
    assert str(path) in str(refused.value)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"not onnx")
    with pytest.raises(ModelError, match="garbage.onnx"):
        ExpressionModel(garbage, threads=1)
    code = main(["analyze", str(pyfeat_media / "single_face.jpg"), "--expression", str(path), "-q",
                 "-o", str(tmp_path / "rows.csv")])
    error = capsys.readouterr().err
    assert code == 2 and str(path) in error and "internal error" not in error and "Traceback" not in error


# --------------------------------------------------------------------------- shipped files
def test_every_shipped_expression_model_has_its_card_and_fits_the_size_limit():
    from mien.models.expression import WEIGHTS_DIR
    from mien.registry import list_models

    for spec in list_models("expression"):
        if spec.entry != "mien.models.expression:shipped_model":
            continue
        onnx_path = WEIGHTS_DIR / spec.options["model"]
        assert onnx_path.stat().st_size < 20 * 1024 * 1024, f"{onnx_path.name} is over 20 MB"
        card = onnx_path.with_suffix(".md")
        assert card.is_file(), f"{spec.name} has no model card ({card.name})"
        assert f"`{spec.name}`" in card.read_text().splitlines()[0]
