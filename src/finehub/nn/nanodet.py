"""NanoDet (GFL head) with the CSP backbone of the TF.js ``nanodet`` graph, written natively in PyTorch.

The network, as the weights define it (BatchNorm already folded into each convolution's bias,
LeakyReLU 0.1 after every 3×3 convolution):

- backbone: 3×3 stride-2 stem (32 ch), 3×3 stride-2 max-pool, then four CSP stages. A stage of
  width ``c`` runs an input conv (stride 1 for the first stage, 2 after), ``n`` tiny blocks
  (``a = conv(x, c/2)``, ``b = conv(a, c/2)``, output ``[b, a]``), an output conv, and concatenates
  that with the input conv's output: 2c channels. Widths 32, 64, 128, 256 with 1, 2, 2, 3 blocks;
  the last three stages feed the neck (strides 8, 16, 32; 128, 256, 512 channels).
- neck (PAN): 1×1 lateral convs to 128 channels, a top-down pass (bilinear ×2 upsampling, add)
  then a bottom-up pass (bilinear ×½ downsampling, add), as in NanoDet.
- head, per level: a 3×3 conv + LeakyReLU, then a 1×1 conv giving 80 class logits and
  4 × (``REG_MAX`` + 1) distance bins (GFL's general distribution for left, top, right, bottom).

Every weight is an ``nn.Parameter``; :func:`load_tfjs_weights` maps the graph's tensors onto them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from finehub.errors import DataFormatError
from finehub.nn.nanodet_io import REG_MAX, STRIDES

NUM_CLASSES = 80
STAGES = ((32, 1, 1), (64, 2, 2), (128, 2, 2), (256, 2, 3))  # (width, input-conv stride, tiny blocks)
NECK = 128


class ConvAct(nn.Conv2d):
    """A convolution with bias (BatchNorm folded in), ``same`` padding, and optional LeakyReLU 0.1."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, *, act: bool = True) -> None:
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2, bias=True)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return F.leaky_relu(y, 0.1) if self.act else y


class TinyBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv_a = ConvAct(width, width // 2)
        self.conv_b = ConvAct(width // 2, width // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv_a(x)
        return torch.cat([self.conv_b(a), a], 1)


class CspStage(nn.Module):
    def __init__(self, width: int, stride: int, blocks: int) -> None:
        super().__init__()
        self.in_conv = ConvAct(width, width, stride=stride)
        self.blocks = nn.Sequential(*(TinyBlock(width) for _ in range(blocks)))
        self.out_conv = ConvAct(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.in_conv(x)
        return torch.cat([self.out_conv(self.blocks(x)), x], 1)


class CspBackbone(nn.Module):
    """Image (N×3×H×W, H and W multiples of 32) -> features at strides 8, 16, 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvAct(3, STAGES[0][0], stride=2)
        self.stages = nn.ModuleList(CspStage(*spec) for spec in STAGES)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(self.stem(x), 3, 2, padding=1)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features[1:]


class PAN(nn.Module):
    def __init__(self, in_channels: Sequence[int] = (128, 256, 512), out_channels: int = NECK) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(ConvAct(c, out_channels, 1, act=False) for c in in_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral, features, strict=True)]
        for i in range(len(lat) - 1, 0, -1):  # top-down
            lat[i - 1] = lat[i - 1] + _resize(lat[i], lat[i - 1])
        for i in range(len(lat) - 1):  # bottom-up
            lat[i + 1] = lat[i + 1] + _resize(lat[i], lat[i + 1])
        return lat


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class HeadLevel(nn.Module):
    def __init__(self, channels: int = NECK, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv = ConvAct(channels, channels)
        self.pred = ConvAct(channels, num_classes + 4 * (REG_MAX + 1), 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pred(self.conv(x)).flatten(2).transpose(1, 2)  # N × HW × (classes + 44)


class NanoDet(nn.Module):
    """``forward(x)`` -> (class logits N×A×classes, distance bins N×A×44), A = anchor points of all
    levels (row-major within a level, stride 8 first). ``x`` is BGR, ``(pixel - MEAN) / STD``.
    :class:`RawNanoDet` gives the two side by side (N×A×(classes + 44))."""

    MEAN = (103.53, 116.28, 123.675)  # BGR, 0-255 scale
    STD = (57.375, 57.12, 58.395)

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = CspBackbone()
        self.neck = PAN()
        self.head = nn.ModuleList(HeadLevel(NECK, num_classes) for _ in STRIDES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = head_outputs(self.head, self.neck(self.backbone(x)))
        return out[..., : self.num_classes], out[..., self.num_classes :]


class RawNanoDet(nn.Module):
    """A :class:`NanoDet` whose ``forward`` gives ``raw``, in the shape fine-tuning expects, sharing
    its modules: ``encoder`` (backbone and neck, what strategies treat as pretrained layers) and
    ``head``. Answering runs it too, so the fine-tuned and the built-in detectors run one path."""

    def __init__(self, net: NanoDet) -> None:
        super().__init__()
        self.encoder = nn.Sequential(net.backbone, net.neck)
        self.head = net.head

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return head_outputs(self.head, self.encoder(pixel_values))


def head_outputs(head: nn.ModuleList, features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every level's head output, anchor points of all levels side by side (N×A×(classes + 44))."""
    return torch.cat([h(f) for h, f in zip(head, features, strict=True)], 1)


def with_classes(pretrained: NanoDet, num_classes: int, *, seed: int = 0) -> NanoDet:
    """A NanoDet for ``num_classes`` classes built on ``pretrained``: every weight copied but the
    class rows of each level's output convolution, which start fresh (small normal weights, bias
    at a 1 % prior as in focal-loss training); the distance rows keep their pretrained values."""
    import copy
    import math

    net = NanoDet(num_classes)
    net.backbone = copy.deepcopy(pretrained.backbone)
    net.neck = copy.deepcopy(pretrained.neck)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for new, old in zip(net.head, pretrained.head, strict=True):
            new.conv.load_state_dict(old.conv.state_dict())
            k = pretrained.num_classes
            new.pred.weight[num_classes:] = old.pred.weight[k:]
            new.pred.bias[num_classes:] = old.pred.bias[k:]
            cls_weight = new.pred.weight[:num_classes]
            cls_weight.copy_(torch.randn(cls_weight.shape, generator=generator) * 0.01)
            new.pred.bias[:num_classes] = -math.log((1 - 0.01) / 0.01)
    return net


# --- weights from the TF.js graph -----------------------------------------------------------------


def _graph_conv_order(net: NanoDet) -> list[ConvAct]:
    """The network's convolutions in the graph's numbering (convolution, convolution_1, ...)."""
    convs: list[ConvAct] = [net.backbone.stem]
    for stage in net.backbone.stages:
        convs.append(stage.in_conv)
        for block in stage.blocks:
            convs += [block.conv_a, block.conv_b]
        convs.append(stage.out_conv)
    convs += list(net.neck.lateral)
    for level in net.head:
        convs += [level.conv, level.pred]
    return convs


def load_tfjs_weights(net: NanoDet, graph: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> None:
    """Copy the TF.js graph's filters (HWIO) and biases into ``net``: graph node ``convolution[_k]``
    is the k-th convolution of :func:`_graph_conv_order`, its bias the constant the next ``Add`` adds.
    Refuses a graph whose names or shapes differ."""
    nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
    bias_of = {
        n["input"][0]: n["input"][1] for n in nodes.values() if n["op"] == "Add" and n["input"][1] in weights
    }
    with torch.no_grad():
        for k, conv in enumerate(_graph_conv_order(net)):
            node = nodes.get("PartitionedCall/convolution" + (f"_{k}" if k else ""))
            if node is None or node["input"][1] not in weights or node["name"] not in bias_of:
                raise DataFormatError("nanodet graph", f"no convolution {k} with filter and bias")
            filt = torch.from_numpy(np.ascontiguousarray(weights[node["input"][1]].transpose(3, 2, 0, 1)))
            bias = torch.from_numpy(np.asarray(weights[bias_of[node["name"]]]).reshape(-1))
            if filt.shape != conv.weight.shape or bias.shape != conv.bias.shape:
                raise DataFormatError(
                    "nanodet graph",
                    f"convolution {k} has shape {tuple(filt.shape)}, the network expects {tuple(conv.weight.shape)}",
                )
            conv.weight.copy_(filt)
            conv.bias.copy_(bias)
