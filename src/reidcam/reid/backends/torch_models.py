"""OSNet and ResNet50 feature extractors whose ``state_dict`` keys match torchreid's.

Why not import ``torchreid``: the only PyPI release (0.2.5, an unofficial 2022 repackage)
imports its whole training stack on ``import torchreid`` (it fails without ``gdown`` and takes
seconds). The architectures below follow ``torchreid/reid/models/osnet.py`` and ``resnet.py``
module for module, so torchreid-format checkpoints (model zoo ``.pth``) load with
``strict=True`` once the ``classifier`` is dropped. Only the inference path is kept: the
forward returns the (N, feature_dim) vector torchreid returns in eval mode.

Imports torch at module import: import this module lazily (the torch backend does).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

OSNET_CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "osnet_x1_0": (64, 256, 384, 512),
    "osnet_x0_75": (48, 192, 288, 384),
    "osnet_x0_5": (32, 128, 192, 256),
    "osnet_x0_25": (16, 64, 96, 128),
}
ARCHITECTURES = (*OSNET_CHANNELS, "resnet50", "resnet50_fc512")


class ConvLayer(nn.Module):
    """conv (k x k, no bias) + BN + ReLU; attribute names as in torchreid (conv, bn)."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.bn(self.conv(x)))
        return out


class Conv1x1Linear(nn.Module):
    """1x1 conv + BN without non-linearity."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(self.conv(x))
        return out


class LightConv3x3(nn.Module):
    """1x1 linear conv then depth-wise 3x3 + BN + ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, groups=cout)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.bn(self.conv2(self.conv1(x))))
        return out


class ChannelGate(nn.Module):
    """Sigmoid channel attention shared by the four streams of an OSBlock."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=True)
        self.gate_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.fc2(self.relu(self.fc1(self.global_avgpool(x))))
        gated: torch.Tensor = x * self.gate_activation(g)
        return gated


def _light_stack(channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*(LightConv3x3(channels, channels) for _ in range(depth)))


class OSBlock(nn.Module):
    """Omni-scale block: four streams of 1-4 light 3x3 convs, gated, summed, residual."""

    def __init__(self, cin: int, cout: int, bottleneck_reduction: int = 4) -> None:
        super().__init__()
        mid = cout // bottleneck_reduction
        self.conv1 = ConvLayer(cin, mid, 1)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = _light_stack(mid, 2)
        self.conv2c = _light_stack(mid, 3)
        self.conv2d = _light_stack(mid, 4)
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, cout)
        self.downsample = Conv1x1Linear(cin, cout) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        streams = (self.conv2a(x1), self.conv2b(x1), self.conv2c(x1), self.conv2d(x1))
        x2 = sum(self.gate(s) for s in streams)
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(x2) + identity)


def _os_stage(cin: int, cout: int, reduce: bool) -> nn.Sequential:
    layers: list[nn.Module] = [OSBlock(cin, cout), OSBlock(cout, cout)]
    if reduce:
        layers.append(nn.Sequential(ConvLayer(cout, cout, 1), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*layers)


def _fc(cin: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))


class OSNet(nn.Module):
    """OSNet (Zhou et al., ICCV 2019) feature extractor: (N, 3, 256, 128) -> (N, feature_dim)."""

    def __init__(self, channels: tuple[int, int, int, int], feature_dim: int = 512) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.feature_dim = feature_dim
        self.conv1 = ConvLayer(3, c0, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _os_stage(c0, c1, reduce=True)
        self.conv3 = _os_stage(c1, c2, reduce=True)
        self.conv4 = _os_stage(c2, c3, reduce=False)
        self.conv5 = ConvLayer(c3, c3, 1)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = _fc(c3, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.conv4(self.conv3(self.conv2(x))))
        out: torch.Tensor = self.fc(self.global_avgpool(x).flatten(1))
        return out


class ResNet50(nn.Module):
    """torchreid ResNet50 feature extractor (2048-d), or ``resnet50_fc512`` (last stride 1, 512-d)."""

    # Taken over from torchvision's resnet50 by setattr in __init__ (same names, same state_dict keys).
    conv1: nn.Module
    bn1: nn.Module
    relu: nn.Module
    maxpool: nn.Module
    layer1: nn.Module
    layer2: nn.Module
    layer3: nn.Module
    layer4: nn.Module

    def __init__(self, fc_dim: int | None = None) -> None:
        super().__init__()
        from torchvision.models import resnet50

        base = resnet50(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(base, name))
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = None if fc_dim is None else _fc(2048, fc_dim)
        self.feature_dim = 2048 if fc_dim is None else fc_dim
        if fc_dim is not None:  # torchreid's resnet50_fc512 uses last_stride=1
            base.layer4[0].conv2.stride = (1, 1)  # the same block objects as self.layer4
            base.layer4[0].downsample[0].stride = (1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        v: torch.Tensor = self.global_avgpool(x).flatten(1)
        return v if self.fc is None else self.fc(v)


def build_model(arch: str, feature_dim: int = 512) -> nn.Module:
    """A fresh (random-init) feature extractor of one of ``ARCHITECTURES``.

    Raises:
        ValueError: unknown architecture.
    """
    if arch in OSNET_CHANNELS:
        return OSNet(OSNET_CHANNELS[arch], feature_dim)
    if arch == "resnet50":
        return ResNet50()
    if arch == "resnet50_fc512":
        return ResNet50(fc_dim=feature_dim)
    raise ValueError(f"unknown ReID architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")


def infer_arch(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    """Guess (architecture, feature_dim) from a torchreid state_dict's keys and shapes.

    Raises:
        ValueError: the keys match none of ``ARCHITECTURES``.
    """
    fc = state.get("fc.0.weight")
    if "conv1.conv.weight" in state:
        width = int(state["conv1.conv.weight"].shape[0])
        by_width = {ch[0]: name for name, ch in OSNET_CHANNELS.items()}
        if width not in by_width or "conv1.bn.running_mean" not in state:
            raise ValueError(f"OSNet variant with stem width {width} (or IBN/AIN) is not supported")
        return by_width[width], int(fc.shape[0]) if fc is not None else 512
    if "conv1.weight" in state and "layer4.2.conv3.weight" in state:
        return ("resnet50", 2048) if fc is None else ("resnet50_fc512", int(fc.shape[0]))
    raise ValueError("state_dict matches no supported architecture (OSNet x1_0/x0_75/x0_5/x0_25, ResNet50)")
