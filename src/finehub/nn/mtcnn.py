"""MTCNN face detector: the P-Net / R-Net / O-Net cascade of Zhang et al. (2016).

The layer names match the widely used PyTorch port of the original Caffe weights, so its
``pnet``/``rnet``/``onet`` state_dicts load with ``strict=True``.

How :meth:`MTCNN.detect` works, per image (R-Net and O-Net run on all images' candidates at once,
so a batch may mix image sizes):

1. Image pyramid: scales ``12 / min_face_size * factor**k`` while the shorter side stays >= 12 px.
   P-Net, fully convolutional, scores every 12×12 window (stride 2) of every scale; windows above
   ``thresholds[0]`` become candidate boxes, thinned by NMS per scale (IoU 0.5), then per image (0.7),
   moved by P-Net's box regression and made square.
2. R-Net rescores 24×24 crops of the candidates (zero-padded where a box leaves the image); those
   above ``thresholds[1]`` go through NMS (IoU 0.7), regression, squaring.
3. O-Net rescores 48×48 crops and predicts five landmarks; those above ``thresholds[2]`` are
   regressed and thinned by NMS with the "min" overlap (0.7).

Internally boxes use the original code's convention (1-based, inclusive pixel indices); the
returned :class:`Detections` use continuous pixel coordinates with the origin at the image's top-left
corner, so ``PIL.Image.crop(box)`` cuts exactly the detected pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import interpolate

from finehub.nn.nms import batched_nms, nms

_CHUNK = 512  # R-Net/O-Net crops per forward pass, bounding memory on crowded batches


# One convolution stage: (output channels, kernel size, (kernel, stride) of the max-pool after it or None).
Stage = tuple[int, int, tuple[int, int] | None]


class _ConvStages(nn.Module):
    """The convolution stages the three networks start with, named as in the Caffe original:
    ``conv<i>``, ``prelu<i>`` and, where the stage pools, ``pool<i>`` (ceil mode)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        super().__init__()
        self.num_stages = len(stages)
        channels = 3
        for i, (out, kernel, pool) in enumerate(stages, 1):
            self.add_module(f"conv{i}", nn.Conv2d(channels, out, kernel_size=kernel))
            self.add_module(f"prelu{i}", nn.PReLU(out))
            if pool is not None:
                self.add_module(f"pool{i}", nn.MaxPool2d(*pool, ceil_mode=True))
            channels = out

    def stages(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"prelu{i}")(getattr(self, f"conv{i}")(x))
            pool = getattr(self, f"pool{i}", None)
            if pool is not None:
                x = pool(x)
        return x


class PNet(_ConvStages):
    """Proposal network: fully convolutional, 12×12 receptive field, stride 2."""

    def __init__(self) -> None:
        super().__init__([(10, 3, (2, 2)), (16, 3, None), (32, 3, None)])
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box regression N×4×h×w, face probability N×h×w)."""
        x = self.stages(x)
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(_ConvStages):
    """Refinement network on 24×24 crops."""

    def __init__(self) -> None:
        super().__init__([(28, 3, (3, 2)), (48, 3, (3, 2)), (64, 2, None)])
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box regression N×4, face probability N)."""
        x = self.prelu4(self.dense4(_caffe_flatten(self.stages(x))))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(_ConvStages):
    """Output network on 48×48 crops; also predicts five landmarks."""

    def __init__(self) -> None:
        super().__init__([(32, 3, (3, 2)), (64, 3, (3, 2)), (64, 3, (2, 2)), (128, 2, None)])
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box regression N×4, landmarks N×10 as x1..x5, y1..y5 relative to the box, face probability N)."""
        x = self.prelu5(self.dense5(_caffe_flatten(self.stages(x))))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)[:, 1]


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, sorted by decreasing score.

    ``boxes`` N×4 (x1, y1, x2, y2) clipped to the image, ``scores`` N, ``landmarks`` N×5×2 (x, y) in
    the order left eye, right eye, nose, left mouth corner, right mouth corner (as seen in the image).
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    landmarks: torch.Tensor


class MTCNN(nn.Module):
    """The three networks plus the cascade that ties them together."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()

    @torch.inference_mode()
    def detect(
        self,
        images: Sequence[torch.Tensor],
        *,
        min_face_size: float = 20.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
    ) -> list[Detections]:
        """Faces in each image; an image is a 3×H×W float tensor of RGB values in [0, 255]."""
        images = [img.float() for img in images]
        device = images[0].device if images else torch.device("cpu")
        # Stage 1: P-Net over each image's pyramid. Rows: x1, y1, x2, y2, score, dx1, dy1, dx2, dy2.
        cands, owner = [], []
        for i, img in enumerate(images):
            for scale in pyramid_scales(img.shape[1], img.shape[2], min_face_size, factor):
                boxes = self._pnet_boxes(img, scale, thresholds[0])
                boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)]
                cands.append(boxes)
                owner.append(torch.full((len(boxes),), i, dtype=torch.long, device=device))
        boxes = torch.cat(cands) if cands else torch.zeros(0, 9, device=device)
        owner = torch.cat(owner) if owner else torch.zeros(0, dtype=torch.long, device=device)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owner, 0.7)
        boxes, owner = boxes[keep], owner[keep]
        size = boxes[:, 2:4] - boxes[:, 0:2]
        boxes = torch.cat([boxes[:, :4] + boxes[:, 5:9] * size.repeat(1, 2), boxes[:, 4:5]], dim=1)
        boxes, owner = _drop_empty(_square(boxes), owner, images)

        # Stage 2: R-Net on 24×24 crops.
        reg, score = _run_chunked(self.rnet, _crops(images, owner, boxes, 24))
        ok = score > thresholds[1]
        boxes, owner, reg = torch.cat([boxes[ok, :4], score[ok, None]], dim=1), owner[ok], reg[ok]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owner, 0.7)
        boxes, owner = _drop_empty(_square(_regress(boxes[keep], reg[keep])), owner[keep], images)

        # Stage 3: O-Net on 48×48 crops, with landmarks.
        reg, marks, score = _run_chunked(self.onet, _crops(images, owner, boxes, 48))
        ok = score > thresholds[2]
        boxes, owner, reg, marks = boxes[ok, :4], owner[ok], reg[ok], marks[ok]
        boxes = torch.cat([boxes, score[ok, None]], dim=1)
        side = boxes[:, 2:4] - boxes[:, 0:2] + 1
        points = torch.stack(
            [
                side[:, 0:1] * marks[:, :5] + boxes[:, 0:1] - 1,
                side[:, 1:2] * marks[:, 5:] + boxes[:, 1:2] - 1,
            ],
            dim=2,
        )
        boxes = _regress(boxes, reg)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owner, 0.7, mode="min", inclusive=True)
        boxes, owner, points = boxes[keep], owner[keep], points[keep]

        out = []
        to_continuous = torch.tensor([1.0, 1.0, 0.0, 0.0], device=device)  # from 1-based inclusive
        for i, img in enumerate(images):
            mine = owner == i
            h, w = img.shape[1:]
            corners = boxes[mine, :4] - to_continuous
            corners[:, 0::2] = corners[:, 0::2].clamp(0, w)
            corners[:, 1::2] = corners[:, 1::2].clamp(0, h)
            out.append(Detections(boxes=corners, scores=boxes[mine, 4], landmarks=points[mine]))
        return out

    def _pnet_boxes(self, img: torch.Tensor, scale: float, threshold: float) -> torch.Tensor:
        h, w = img.shape[1:]
        data = interpolate(img[None], size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
        reg, prob = self.pnet(_normalize(data))
        ys, xs = torch.nonzero(prob[0] >= threshold, as_tuple=True)
        cell = torch.stack([xs, ys], dim=1).float()
        stride, size = 2, 12
        start = ((stride * cell + 1) / scale).floor()
        end = ((stride * cell + size) / scale).floor()
        return torch.cat([start, end, prob[0, ys, xs, None], reg[0, :, ys, xs].T], dim=1)


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales mapping a face of ``min_face_size`` px to P-Net's 12 px, shrinking by ``factor``
    while the scaled shorter side is still at least 12 px."""
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten in the (W, H, C) order the weights were trained with."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Move inclusive-pixel boxes by the regression offsets (fractions of width/height)."""
    side = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    return torch.cat([boxes[:, :4] + reg * side, boxes[:, 4:]], dim=1)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around the same centre, its side the longer of the two."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(dim=1, keepdim=True).values
    start = boxes[:, 0:2] + size * 0.5 - side * 0.5
    return torch.cat([start, start + side, boxes[:, 4:]], dim=1)


def _pixel_bounds(boxes: torch.Tensor) -> torch.Tensor:
    """Integer (x, y, ex, ey) of each box, 1-based inclusive, as the original code truncates them."""
    return boxes[:, :4].trunc().long()


def _drop_empty(
    boxes: torch.Tensor, owner: torch.Tensor, images: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove boxes with no pixel inside their image (nothing to crop)."""
    b = _pixel_bounds(boxes)
    heights = torch.tensor([img.shape[1] for img in images], dtype=torch.long, device=boxes.device)[owner]
    widths = torch.tensor([img.shape[2] for img in images], dtype=torch.long, device=boxes.device)[owner]
    ok = (b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1]) & (b[:, 2] >= 1) & (b[:, 3] >= 1)
    ok &= (b[:, 0] <= widths) & (b[:, 1] <= heights)
    return boxes[ok], owner[ok]


def _crops(
    images: Sequence[torch.Tensor], owner: torch.Tensor, boxes: torch.Tensor, size: int
) -> torch.Tensor:
    """N×3×size×size normalised crops; parts of a box outside its image are zero (black)."""
    out = torch.empty(len(boxes), 3, size, size, device=boxes.device)
    for k, ((x, y, ex, ey), i) in enumerate(zip(_pixel_bounds(boxes).tolist(), owner.tolist(), strict=True)):
        img = images[i]
        h, w = img.shape[1:]
        patch = img.new_zeros(3, ey - y + 1, ex - x + 1)
        sx, sy, tx, ty = max(x, 1), max(y, 1), min(ex, w), min(ey, h)
        patch[:, sy - y : ty - y + 1, sx - x : tx - x + 1] = img[:, sy - 1 : ty, sx - 1 : tx]
        out[k] = interpolate(patch[None], size=(size, size), mode="area")[0]
    return _normalize(out)


def _run_chunked(
    net: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], x: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    if len(x) == 0:
        return tuple(t[:0] for t in net(x.new_zeros(1, *x.shape[1:])))
    parts = [net(x[i : i + _CHUNK]) for i in range(0, len(x), _CHUNK)]
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))
