"""A TensorFlow.js graph model (``model.json`` + weight shards) run as a PyTorch ``nn.Module``.

The graph is executed node by node in TensorFlow's NHWC layout; convolutions permute to NCHW views
(channels-last in memory, so no copy) and call torch's kernels. Every float constant of the graph,
convolution filters included, becomes a trainable ``nn.Parameter`` (filters stored once in torch's
layout), so the module can be fine-tuned like any other; integer constants are buffers.

Only the ops the bundled graphs use are implemented; any other is refused when the graph is
loaded, naming the op. Weights may be float32, int32 or float16-quantised (stored as float32).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from finehub.errors import DataFormatError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16}
_CONV_FILTER = {"Conv2D": 1, "_FusedConv2D": 1, "DepthwiseConv2dNative": 1, "FusedDepthwiseConv2dNative": 1}


def read_weights(graph: dict[str, Any], data: bytes, *, where: str) -> dict[str, np.ndarray]:
    """The graph's weights by name, decoded from the concatenated weight shards ``data``."""
    out, offset = {}, 0
    for group in graph["weightsManifest"]:
        for spec in group["weights"]:
            stored = spec.get("quantization", {}).get("dtype", spec["dtype"])
            if stored not in _DTYPES or "scale" in spec.get("quantization", {}):
                raise DataFormatError(
                    where, f"weight {spec['name']!r} uses the unsupported encoding {stored}"
                )
            count = math.prod(int(d) for d in spec["shape"])
            size = count * np.dtype(_DTYPES[stored]).itemsize
            if offset + size > len(data):
                raise DataFormatError(where, "the weight file is shorter than the graph's manifest says")
            arr = np.frombuffer(data, dtype=_DTYPES[stored], count=count, offset=offset).reshape(
                spec["shape"]
            )
            out[spec["name"]] = arr.astype(_DTYPES[spec["dtype"]])
            offset += size
    if offset != len(data):
        raise DataFormatError(
            where, f"the weight file has {len(data) - offset} bytes the manifest does not name"
        )
    return out


def load_graph(json_path: str | Path, bin_paths: list[str | Path]) -> TfjsGraph:
    """Build a :class:`TfjsGraph` from a graph-model JSON and its weight shard files, in order."""
    graph = json.loads(Path(json_path).read_text(encoding="utf-8"))
    data = b"".join(Path(p).read_bytes() for p in bin_paths)
    return TfjsGraph(graph, read_weights(graph, data, where=str(json_path)))


class TfjsGraph(nn.Module):
    """``forward(*inputs)`` takes the graph's inputs (NHWC tensors, in signature order) and returns
    its outputs in signature order."""

    def __init__(self, graph: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        super().__init__()
        nodes = graph["modelTopology"]["node"]
        signature = graph.get("signature", {})
        self.input_names = [n.split(":")[0] for n in signature.get("inputs", {})] or [
            n["name"] for n in nodes if n["op"] == "Placeholder"
        ]
        self.output_names = [n.split(":")[0] for n in signature.get("outputs", {})]
        layouts = {}  # filter name -> how to store it for torch
        for node in nodes:
            if node["op"] in _CONV_FILTER:
                layouts[node["input"][1]] = "depthwise" if "Depthwise" in node["op"] else "conv"
            elif node["op"] == "Conv2DBackpropInput":
                layouts[node["input"][1]] = "transposed"
        self.params = nn.ParameterDict()
        self._keys: dict[str, str] = {}
        for i, (name, arr) in enumerate(weights.items()):
            key = f"w{i}"
            self._keys[name] = key
            tensor = torch.from_numpy(_torch_layout(arr, layouts.get(name)).copy())
            if name in layouts:  # inputs reach the convolutions channels-last: store filters alike, once
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            if tensor.is_floating_point():
                self.params[key] = nn.Parameter(tensor)
            else:
                self.register_buffer(key, tensor, persistent=False)
        self._nodes = [n for n in nodes if n["op"] not in ("Const", "Placeholder")]
        unknown = sorted({n["op"] for n in self._nodes} - set(_OPS))
        if unknown:
            raise DataFormatError("TF.js graph", f"uses ops this interpreter lacks: {', '.join(unknown)}")
        consts = {n["name"] for n in nodes if n["op"] == "Const"}
        if missing := sorted(consts - set(weights)):
            raise DataFormatError("TF.js graph", f"constants without weights: {', '.join(missing[:5])}")

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[str, Any] = dict(zip(self.input_names, inputs, strict=True))
        for name, key in self._keys.items():
            values[name] = self.params[key] if key in self.params else getattr(self, key)
        for node in self._nodes:
            args = [_value(values, ref) for ref in node.get("input", ()) if not ref.startswith("^")]
            result = _OPS[node["op"]](args, node.get("attr", {}))
            if isinstance(result, (list, tuple)):
                for i, r in enumerate(result):
                    values[f"{node['name']}:{i}"] = r
                values[node["name"]] = result[0]
            else:
                values[node["name"]] = result
        return tuple(values[name] for name in self.output_names)


def _torch_layout(arr: np.ndarray, layout: str | None) -> np.ndarray:
    if layout == "conv":  # HWIO -> OIHW
        return arr.transpose(3, 2, 0, 1)
    if layout == "depthwise":  # H W C M -> (C*M) 1 H W
        h, w, c, m = arr.shape
        return arr.reshape(h, w, c * m).transpose(2, 0, 1)[:, None]
    if layout == "transposed":  # H W out in -> in out H W
        return arr.transpose(3, 2, 0, 1)
    return arr


def _value(values: dict[str, Any], ref: str) -> Any:
    name, _, index = ref.partition(":")
    return values[ref] if index and index != "0" else values[name]


# --- attributes ----------------------------------------------------------------------------------


def _ints(attr: dict[str, Any], key: str) -> list[int]:
    return [int(v) for v in attr.get(key, {}).get("list", {}).get("i", [])]


def _str(attr: dict[str, Any], key: str) -> str:
    return base64.b64decode(attr[key]["s"]).decode() if key in attr else ""


def _strs(attr: dict[str, Any], key: str) -> list[str]:
    return [base64.b64decode(s).decode() for s in attr.get(key, {}).get("list", {}).get("s", [])]


def _num(attr: dict[str, Any], key: str, default: float) -> float:
    return float(attr[key]["f"]) if key in attr else default


# --- convolutions and pooling ----------------------------------------------------------------------


def _same_pads(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> list[tuple[int, int]]:
    """TensorFlow's SAME padding of an NCHW tensor, (before, after) per spatial axis: the odd pixel goes after."""
    pads = []
    for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _same_pad(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    value: float = 0.0,
) -> torch.Tensor:
    (top, bottom), (left, right) = _same_pads(x, kernel, stride, dilation)
    return F.pad(x, (left, right, top, bottom), value=value) if top or bottom or left or right else x


def _conv(args: list[Any], attr: dict[str, Any], *, depthwise: bool) -> torch.Tensor:
    x, weight = args[0].permute(0, 3, 1, 2), args[1]
    stride, dilation = tuple(_ints(attr, "strides")[1:3]), tuple(_ints(attr, "dilations")[1:3] or (1, 1))
    padding: tuple[int, int] = (0, 0)
    if _str(attr, "padding") == "SAME":
        (top, bottom), (left, right) = _same_pads(x, tuple(weight.shape[2:]), stride, dilation)
        if (top, left) == (bottom, right):  # symmetric: let the convolution pad, no copy
            padding = (top, left)
        else:
            x = F.pad(x, (left, right, top, bottom))
    elif _str(attr, "padding") == "EXPLICIT":
        p = _ints(attr, "explicit_paddings")
        x = F.pad(x, (p[4], p[5], p[2], p[3]))
    fused = _strs(attr, "fused_ops")
    bias = args[2] if fused and fused[0] == "BiasAdd" else None
    groups = x.shape[1] if depthwise else 1
    y = F.conv2d(x, weight, bias, stride, padding, dilation, groups).permute(0, 2, 3, 1)
    for op in fused[1:]:
        y = _UNARY[op](y, attr)
    return y


def _conv_transpose(args: list[Any], attr: dict[str, Any]) -> torch.Tensor:
    shape, weight, x = args
    stride = tuple(_ints(attr, "strides")[1:3])
    out_h, out_w = int(shape[1]), int(shape[2])
    k = weight.shape[2:]
    pads = [
        max((i - 1) * s + kk - o, 0)
        for i, s, kk, o in zip(x.shape[1:3], stride, k, (out_h, out_w), strict=True)
    ]
    y = F.conv_transpose2d(x.permute(0, 3, 1, 2), weight, None, stride)
    y = y[:, :, pads[0] // 2 : pads[0] // 2 + out_h, pads[1] // 2 : pads[1] // 2 + out_w]
    return y.permute(0, 2, 3, 1)


def _pool(args: list[Any], attr: dict[str, Any], *, kind: str) -> torch.Tensor:
    x = args[0].permute(0, 3, 1, 2)
    kernel, stride = tuple(_ints(attr, "ksize")[1:3]), tuple(_ints(attr, "strides")[1:3])
    if kind == "max":
        if _str(attr, "padding") == "SAME":
            x = _same_pad(x, kernel, stride, (1, 1), value=float("-inf"))
        return F.max_pool2d(x, kernel, stride).permute(0, 2, 3, 1)
    if _str(attr, "padding") == "SAME":  # TF averages over the valid pixels only
        ones = _same_pad(torch.ones_like(x[:1, :1]), kernel, stride, (1, 1))
        summed = F.avg_pool2d(_same_pad(x, kernel, stride, (1, 1)), kernel, stride, divisor_override=1)
        return (summed / F.avg_pool2d(ones, kernel, stride, divisor_override=1)).permute(0, 2, 3, 1)
    return F.avg_pool2d(x, kernel, stride).permute(0, 2, 3, 1)


def _resize_bilinear(args: list[Any], attr: dict[str, Any]) -> torch.Tensor:
    if attr.get("align_corners", {}).get("b") or not attr.get("half_pixel_centers", {}).get("b"):
        raise DataFormatError("TF.js graph", "ResizeBilinear without half-pixel centres is not supported")
    x, size = args[0].permute(0, 3, 1, 2), [int(v) for v in args[1]]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False).permute(0, 2, 3, 1)


# --- element-wise and shape ops -------------------------------------------------------------------

_UNARY: dict[str, Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]] = {
    "Relu": lambda x, a: F.relu(x),
    "Relu6": lambda x, a: F.relu6(x),
    "Sigmoid": lambda x, a: torch.sigmoid(x),
    "Sqrt": lambda x, a: torch.sqrt(x),
    "LeakyRelu": lambda x, a: F.leaky_relu(x, _num(a, "alpha", 0.2)),
    "Identity": lambda x, a: x,
}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "RealDiv": torch.div,
    "FloorDiv": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "SquaredDifference": lambda a, b: (a - b) * (a - b),
}
_CAST = {"DT_FLOAT": torch.float32, "DT_INT32": torch.int32, "DT_BOOL": torch.bool}


def _gather_nd(params: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    depth = indices.shape[-1]
    flat = indices.reshape(-1, depth).long()
    return params[tuple(flat.unbind(-1))].reshape(*indices.shape[:-1], *params.shape[depth:])


def _on_first(
    f: Callable[[torch.Tensor, dict[str, Any]], torch.Tensor],
) -> Callable[[list[Any], dict[str, Any]], Any]:
    return lambda args, attr: f(args[0], attr)


def _on_two(f: Callable[[Any, Any], Any]) -> Callable[[list[Any], dict[str, Any]], Any]:
    return lambda args, attr: f(args[0], args[1])


_OPS: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {
    **{op: _on_first(f) for op, f in _UNARY.items()},
    **{op: _on_two(f) for op, f in _BINARY.items()},
    "AddN": lambda a, at: torch.stack(list(a)).sum(0),
    "Conv2D": lambda a, at: _conv(a, at, depthwise=False),
    "_FusedConv2D": lambda a, at: _conv(a, at, depthwise=False),
    "DepthwiseConv2dNative": lambda a, at: _conv(a, at, depthwise=True),
    "FusedDepthwiseConv2dNative": lambda a, at: _conv(a, at, depthwise=True),
    "Conv2DBackpropInput": _conv_transpose,
    "MaxPool": lambda a, at: _pool(a, at, kind="max"),
    "AvgPool": lambda a, at: _pool(a, at, kind="avg"),
    "ResizeBilinear": _resize_bilinear,
    "Cast": lambda a, at: a[0].to(_CAST[at["DstT"]["type"]]),
    "Reshape": lambda a, at: a[0].reshape([int(v) for v in a[1]]),
    "ExpandDims": lambda a, at: a[0].unsqueeze(int(a[1])),
    "Squeeze": lambda a, at: a[0].squeeze(tuple(_ints(at, "squeeze_dims"))),
    "Unpack": lambda a, at: a[0].unbind(int(at.get("axis", {}).get("i", 0))),
    "Pack": lambda a, at: torch.stack(list(a), int(at.get("axis", {}).get("i", 0))),
    "ConcatV2": lambda a, at: torch.cat(list(a[:-1]), int(a[-1])),
    "ArgMax": lambda a, at: a[0].argmax(int(a[1])).to(torch.int32),
    "GatherNd": lambda a, at: _gather_nd(a[0], a[1]),
}
