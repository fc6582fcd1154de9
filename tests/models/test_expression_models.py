"""Every registered backend loads and behaves; ONNX metadata is checked, never guessed."""

import json

import numpy as np
import pytest

from mien.models.expression import ExpressionModel, ModelFormatError
from mien.registry import create, list_models
from mien.schema import EXPRESSIONS


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.name)
def test_every_registered_backend_loads_and_runs(spec, pyfeat_media):
    from mien.io.images import read_image

    backend = spec.create(threads=1)
    image = read_image(pyfeat_media / "single_face.jpg")
    if spec.task == "detector":
        detections = backend.detect(image)
        assert len(detections) == 1 and detections.landmarks.shape == (1, 5, 2)
    elif spec.task == "expression":
        assert (backend.crop.size, backend.crop.size) == spec.input_size
        crops = np.zeros((3, backend.crop.size, backend.crop.size, 3), np.uint8)
        probabilities = backend.predict(crops)
        assert probabilities.shape == (3, len(EXPRESSIONS))
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
        assert spec.labels == EXPRESSIONS
    elif spec.task == "landmarks" and hasattr(backend, "predict"):  # the face mesh, from the detector's points
        five = create("retinaface", threads=1).detect(image).landmarks
        mesh = backend.predict(image, five)
        assert mesh.points.shape == (1, 468, 3) and np.isfinite(mesh.points).all() and mesh.score[0] > 0.5
    elif spec.task == "landmarks":  # the iris model, on eye crops of its input size
        contours, iris = backend.run(np.full((2, *spec.input_size, 3), 128, np.uint8))
        assert contours.shape == (2, 71, 3) and iris.shape == (2, 5, 3)
    elif spec.task == "micro":
        flows = np.random.default_rng(0).integers(0, 256, (2, *spec.input_size, 3), dtype=np.uint8)
        probabilities = backend.predict(flows)
        assert probabilities.shape == (2, len(spec.labels))
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    else:
        pytest.fail(f"no test for task {spec.task}")
    assert spec.licence and spec.source and spec.size_mb >= 0


def tiny_expression_onnx(path, metadata: dict[str, str], size: int = 8) -> str:
    """A real (tiny, linear) ONNX classifier with the given metadata: gray (N,1,S,S) -> 8 logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(size * size, 8)).astype(np.float32) / 255.0
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["face"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 8])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return str(path)


GOOD_METADATA = {"mien.task": "expression", "mien.labels": json.dumps(list(EXPRESSIONS)), "mien.crop_size": "8",
                 "mien.template": json.dumps([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]),
                 "mien.input": "gray"}


def test_a_users_onnx_file_with_valid_metadata_loads(tmp_path):
    model = ExpressionModel(tiny_expression_onnx(tmp_path / "mine.onnx", GOOD_METADATA), threads=1)
    assert model.crop.size == 8 and model.colour == "gray"
    assert model.predict(np.full((2, 8, 8, 3), 128, np.uint8)).shape == (2, 8)


@pytest.mark.parametrize("change,message", [
    ({"mien.task": "detector"}, "not a mien expression model"),
    ({"mien.labels": json.dumps(["happy", "sad"])}, "differ from mien's classes"),
    ({"mien.template": "[[0, 0]]"}, "5 \\(x, y\\) points"),
    ({"mien.input": "bgr"}, "unknown input colour"),
    ({"mien.crop_size": None}, "missing or malformed metadata"),
])
def test_bad_metadata_fails_loudly_naming_the_file(tmp_path, change, message):
    metadata = {k: v for k, v in {**GOOD_METADATA, **change}.items() if v is not None}
    path = tiny_expression_onnx(tmp_path / "bad.onnx", metadata)
    with pytest.raises(ModelFormatError, match=message) as error:
        ExpressionModel(path, threads=1)
    assert "bad.onnx" in str(error.value)


def test_missing_model_file():
    with pytest.raises(FileNotFoundError, match="not found"):
        ExpressionModel("/no/such/model.onnx")
