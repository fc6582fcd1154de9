"""MobileFaceNet (Chen et al. 2018) in PyTorch, loadable from an ONNX file of the same network.

Used as the face-pretrained backbone of mien's 112-pixel colour expression models: it is initialised from
OpenCV Zoo's RAF-DB-trained MobileFaceNet (``../shared/teachers/``, Apache-2.0), whose ONNX graph has its
batch normalisation folded into the convolutions (every convolution has a bias, there is no BN layer).
This module rebuilds exactly that graph - conv / PReLU / depthwise bottlenecks / global depthwise conv -
and copies the initialisers in graph order, so the torch network reproduces the ONNX logits.

Input convention of :class:`MobileFaceNet`: (N, 3, 112, 112) RGB in [-1, 1] (``x / 127.5 - 1``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

def conv_prelu(inp: int, out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups), nn.PReLU(out))


class Bottleneck(nn.Module):
    """1x1 expansion + PReLU, 3x3 depthwise + PReLU, linear 1x1 projection; residual when shapes allow."""

    def __init__(self, inp: int, out: int, hidden: int, stride: int) -> None:
        super().__init__()
        self.residual = stride == 1 and inp == out
        self.expand = conv_prelu(inp, hidden)
        self.depthwise = conv_prelu(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def bottleneck_stages() -> nn.Sequential:
    """The 15 bottlenecks of the OpenCV Zoo graph: 64 -> 64 (stride 2, then 4 residual), 64 -> 128 (stride
    2, then 6 residual), 128 -> 128 (expansion 512, stride 2, then 2 residual with expansion 256)."""
    blocks: list[nn.Module] = []
    layout = [(64, 64, 128, 2)] + [(64, 64, 128, 1)] * 4 + [(64, 128, 256, 2)] + [(128, 128, 256, 1)] * 6 \
        + [(128, 128, 512, 2)] + [(128, 128, 256, 1)] * 2
    for inp, out, hidden, stride in layout:
        blocks.append(Bottleneck(inp, out, hidden, stride))
    return nn.Sequential(*blocks)


class MobileFaceNet(nn.Module):
    """MobileFaceNet trunk, 512-d embedding (global depthwise conv + 1x1) and a linear classifier.

    ``forward_features`` gives the (N, 512, 1, 1) embedding map; the classifier reads its spatial mean (a
    no-op on 1x1 that keeps the ``feature map -> mean -> linear`` form mien's head surgery expects).
    """

    feature_dim = 512
    head_modules = ("head_conv", "gdc", "embedding")  # between the last block and the classifier

    def __init__(self, num_classes: int = 7, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_prelu(3, 64, 3, 2), conv_prelu(64, 64, 3, 1, groups=64))
        self.blocks = bottleneck_stages()
        self.head_conv = conv_prelu(128, 512)
        self.gdc = nn.Conv2d(512, 512, 7, groups=512)  # global depthwise conv over the 7x7 map
        self.embedding = nn.Conv2d(512, 512, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.gdc(self.head_conv(self.blocks(self.stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean(dim=(2, 3)))


def onnx_parameters(path: Path) -> list[np.ndarray]:
    """The initialisers of an ONNX MobileFaceNet in the order its nodes use them (weights, then bias)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    initialisers = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    ordered = []
    for node in model.graph.node:
        ordered += [initialisers[name] for name in node.input if name in initialisers]
    return ordered


def load_onnx_weights(net: MobileFaceNet, path: Path) -> MobileFaceNet:
    """Copy an ONNX MobileFaceNet's weights into ``net`` (same graph, same order); the classifier too when
    its number of classes matches. Raises if the graph does not have the expected shapes."""
    arrays = onnx_parameters(path)
    targets = [p for name, p in net.named_parameters() if not name.startswith("classifier")]
    classifier = [net.classifier[1].weight, net.classifier[1].bias]
    if len(arrays) != len(targets) + 2:
        raise ValueError(f"{path}: {len(arrays)} parameter tensors, a MobileFaceNet has {len(targets) + 2}")
    with torch.no_grad():
        for index, (param, array) in enumerate(zip(targets + classifier, arrays)):
            value = torch.from_numpy(np.array(array, np.float32))
            if param.dim() == 1 and value.dim() > 1:  # PReLU slopes are stored as (1, C, 1, 1)
                value = value.reshape(-1)
            if index >= len(targets) and value.shape != param.shape:  # another number of classes
                continue
            if value.shape != param.shape:
                raise ValueError(f"{path}: tensor of shape {tuple(value.shape)} where {tuple(param.shape)} is expected")
            param.copy_(value)
    return net


class ConvPReLU(nn.Module):
    """``PReLU`` written as ``relu(x) + (-a) * relu(-x)`` with the two products as per-channel 1x1 convolutions:
    the same function, but onnxruntime fuses these with its convolutions, while its own PRelu kernel is slow
    on CPU (exporting this form makes the network about twice as fast)."""

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        channels = prelu.weight.numel()
        self.negate = nn.Conv2d(channels, channels, 1, groups=channels, bias=False)
        self.scale = nn.Conv2d(channels, channels, 1, groups=channels, bias=False)
        with torch.no_grad():
            self.negate.weight.fill_(-1.0)
            self.scale.weight.copy_(-prelu.weight.detach().view(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + self.scale(torch.relu(self.negate(x)))


def with_conv_prelu(module: nn.Module) -> nn.Module:
    """``module`` with every ``nn.PReLU`` replaced by :class:`ConvPReLU` (in place; returns it)."""
    for name, child in module.named_children():
        if isinstance(child, nn.PReLU):
            setattr(module, name, ConvPReLU(child))
        else:
            with_conv_prelu(child)
    return module
