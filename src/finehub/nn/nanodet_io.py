"""NanoDet's input and output in numpy: input arrays, anchor points, decoding, score filtering, NMS.

Kept free of torch so that the PyTorch modules, the fine-tuning task and the onnxruntime-only
path all prepare images and turn the network's raw output (N×A×(classes + 4·(REG_MAX+1))) into
boxes with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

REG_MAX = 10  # each side's distance is a distribution over 0..REG_MAX strides
STRIDES = (8, 16, 32)
MAX_CANDIDATES = 1000  # highest-scoring (anchor, class) pairs kept before NMS
MAX_DETECTIONS = 100


def level_shapes(height: int, width: int) -> list[tuple[int, int]]:
    """(rows, columns) of anchor points at each level, for an input of ``height`` × ``width``."""
    return [(-(-height // s), -(-width // s)) for s in STRIDES]


def anchor_points(height: int, width: int) -> np.ndarray:
    """A×3 float32 (cx, cy, stride) of every anchor point, level by level, row-major within a level."""
    import numpy as np

    rows = []
    for s, (h, w) in zip(STRIDES, level_shapes(height, width), strict=True):
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * s, (ys.ravel() + 0.5) * s], 1)
        rows.append(np.concatenate([centres, np.full((h * w, 1), s)], 1))
    return np.concatenate(rows).astype(np.float32)


def decode(raw: np.ndarray, num_classes: int, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores …×A×classes, boxes …×A×4 as x1 y1 x2 y2 in input pixels) of raw head outputs: each
    side's distance is the expectation of its softmax distribution, times the level's stride."""
    import numpy as np

    raw = raw.astype(np.float32, copy=False)
    logits, bins = raw[..., :num_classes], raw[..., num_classes:]
    bins = bins.reshape(*bins.shape[:-1], 4, REG_MAX + 1)
    e = np.exp(bins - bins.max(-1, keepdims=True))
    dist = (e / e.sum(-1, keepdims=True)) @ np.arange(REG_MAX + 1, dtype=np.float32)
    dist = dist * anchors[:, 2:]
    xy = anchors[:, :2]
    boxes = np.concatenate([xy - dist[..., :2], xy + dist[..., 2:]], -1)
    return 1.0 / (1.0 + np.exp(-logits)), boxes


@dataclass(frozen=True)
class Detections:
    """One image's detections, best first: boxes K×4 (x1 y1 x2 y2), scores K, class indices K."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def select(
    scores: np.ndarray,
    boxes: np.ndarray,
    *,
    score_thresh: float,
    nms_iou: float,
    max_detections: int = MAX_DETECTIONS,
) -> Detections:
    """One image's detections from its scores (A×classes) and boxes (A×4): the best
    ``MAX_CANDIDATES`` (anchor, class) pairs at or above ``score_thresh``, reduced by per-class NMS."""
    import numpy as np

    flat = scores.ravel()
    k = min(MAX_CANDIDATES, flat.size)
    top = np.argpartition(-flat, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    top = top[flat[top] >= score_thresh]
    top = top[np.argsort(-flat[top], kind="stable")]
    anchor, cls = top // scores.shape[1], top % scores.shape[1]
    keep = nms(boxes[anchor], flat[top], cls, nms_iou)[:max_detections]
    return Detections(boxes[anchor[keep]], flat[top[keep]], cls[keep])


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy per-class NMS (boxes of different classes never suppress each other),
    by decreasing score."""
    import numpy as np

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # shifting each class's boxes far apart lets one pass of NMS treat the classes separately
    shifted = boxes + (classes * (boxes.max() - boxes.min() + 1))[:, None]
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(np.clip(shifted[:, 2:] - shifted[:, :2], 0, None), 1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        lt = np.maximum(shifted[i, :2], shifted[rest, :2])
        rb = np.minimum(shifted[i, 2:], shifted[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), 1)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def network_input(letterboxed: Image.Image, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """3×H×W float32 network input of a letterboxed RGB image: BGR, ``(pixel - mean) / std`` (0-255
    scale, BGR order), as NanoDet was trained."""
    import numpy as np

    bgr = np.asarray(letterboxed.convert("RGB"), dtype=np.float32)[..., ::-1]
    arr = (bgr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
