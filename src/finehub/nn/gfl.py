"""Training NanoDet's head: ATSS label assignment and the Generalized Focal Loss family.

NanoDet trains its single-branch head (class scores and a distribution over distances per side)
with three losses (Li et al., "Generalized Focal Loss", 2020), each assigned by ATSS (Zhang et al.,
"Bridging the Gap Between Anchor-based and Anchor-free Detection", 2020):

- **quality focal loss** on every (anchor point, class) pair: the target of an assigned pair is the
  IoU of its predicted box with its object, so the class score doubles as a localisation quality;
- **GIoU loss** between assigned points' predicted boxes and their objects;
- **distribution focal loss** pushing each side's distribution towards the two bins around the true
  distance (in units of the level's stride).

The box and DFL terms of a point are weighted by its best class score (detached), and summed over
points divided by the sum of those weights; QFL is divided by the number of assigned points. The
loss weights are NanoDet's: 1 (QFL), 2 (GIoU), 0.25 (DFL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-7


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """N×M IoU of N×4 and M×4 boxes (x1 y1 x2 y2)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=EPS)


def aligned_iou_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU, GIoU) of each row of ``a`` with the same row of ``b`` (both P×4)."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1) + (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1) - inter
    iou = inter / union.clamp(min=EPS)
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0).prod(-1)
    return iou, iou - (hull - union) / hull.clamp(min=EPS)


def atss_assign(
    points: torch.Tensor,
    level_sizes: Sequence[int],
    gt_boxes: torch.Tensor,
    *,
    topk: int = 9,
    anchor_scale: float = 5.0,
) -> torch.Tensor:
    """The object each anchor point learns (an index into ``gt_boxes``), -1 for background.

    ``points`` is A×3 (cx, cy, stride), level by level (``level_sizes`` points each). Per object,
    the ``topk`` points of each level nearest its centre are candidates; those whose square anchor
    (side ``anchor_scale × stride``) overlaps the object by at least the candidates' mean + std IoU,
    and whose centre lies inside the object, are positives. A point claimed by several objects
    takes the one it overlaps most.
    """
    num_points, num_gt = len(points), len(gt_boxes)
    assigned = torch.full((num_points,), -1, dtype=torch.long, device=points.device)
    if num_gt == 0:
        return assigned
    half = points[:, 2:] * (anchor_scale / 2)
    anchors = torch.cat([points[:, :2] - half, points[:, :2] + half], 1)
    ious = pairwise_iou(anchors, gt_boxes)  # A×M
    centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    dist = torch.cdist(points[:, :2], centres)  # A×M
    candidates, start = [], 0
    for size in level_sizes:
        k = min(topk, size)
        candidates.append(dist[start : start + size].topk(k, dim=0, largest=False).indices + start)
        start += size
    cand = torch.cat(candidates)  # K×M, distinct rows within each column
    cand_iou = ious.gather(0, cand)
    threshold = cand_iou.mean(0) + cand_iou.std(0)
    cx, cy = points[cand, 0], points[cand, 1]
    inside = torch.stack(
        [cx - gt_boxes[:, 0], cy - gt_boxes[:, 1], gt_boxes[:, 2] - cx, gt_boxes[:, 3] - cy]
    ).amin(0)
    positive = (cand_iou >= threshold) & (inside > 0.01)
    claimed = torch.full_like(ious, -1.0)
    claimed.scatter_(0, cand, torch.where(positive, cand_iou, torch.full_like(cand_iou, -1.0)))
    best_iou, best_gt = claimed.max(1)
    return torch.where(best_iou >= 0, best_gt, assigned)


def quality_focal_loss(logits: torch.Tensor, target: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Summed QFL: BCE towards soft targets, scaled by ``|sigmoid(logit) - target|^beta``."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * (logits.sigmoid() - target).abs().pow(beta)).sum()


def distribution_focal_loss(bins: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row DFL of distributions ``bins`` (R×(reg_max+1) logits) at continuous ``target`` (R)."""
    left = target.floor().long()
    w_right = target - left
    right = (left + 1).clamp(max=bins.shape[1] - 1)
    return (
        F.cross_entropy(bins, left, reduction="none") * (1 - w_right)
        + F.cross_entropy(bins, right, reduction="none") * w_right
    )


@dataclass(frozen=True)
class GFLLoss:
    """NanoDet's training loss over a batch of raw head outputs (see the module docstring)."""

    num_classes: int
    reg_max: int
    level_sizes: tuple[int, ...]
    qfl_weight: float = 1.0
    giou_weight: float = 2.0
    dfl_weight: float = 0.25

    def __call__(self, raw: torch.Tensor, targets: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``raw``: N×A×(classes + 4·(reg_max+1)); ``targets``: N×M×5 rows (class, x1, y1, x2, y2),
        class -1 for padding; ``points``: A×3. Returns the mean loss (float32)."""
        return sum(self.parts(raw, targets, points).values())  # type: ignore[return-value]

    def parts(
        self, raw: torch.Tensor, targets: torch.Tensor, points: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        raw = raw.float()
        n, a, _ = raw.shape
        c, bins_per_side = self.num_classes, self.reg_max + 1
        logits = raw[..., :c].reshape(n * a, c)
        bins = raw[..., c:].reshape(n * a, 4, bins_per_side)
        pos_index, pos_gt, pos_label = self._assign(targets.float(), points)
        score_target = torch.zeros_like(logits)
        num_pos = max(len(pos_index), 1)
        zero = raw.sum() * 0  # keeps the graph (and DDP's gradient hooks) alive without positives
        if len(pos_index) == 0:
            return {"qfl": quality_focal_loss(logits, score_target) / num_pos, "giou": zero, "dfl": zero}
        pos_points = points.repeat(n, 1)[pos_index]
        pos_bins = bins[pos_index]
        distances = (pos_bins.softmax(-1) * torch.arange(bins_per_side, device=raw.device)).sum(-1)
        distances = distances * pos_points[:, 2:]
        centres = pos_points[:, :2]
        pos_boxes = torch.cat([centres - distances[:, :2], centres + distances[:, 2:]], 1)
        iou, giou = aligned_iou_giou(pos_boxes, pos_gt)
        score_target[pos_index, pos_label] = iou.detach().clamp(min=0)
        weight = logits[pos_index].detach().sigmoid().amax(1)
        weight_sum = weight.sum().clamp(min=EPS)
        sides = torch.cat([centres - pos_gt[:, :2], pos_gt[:, 2:] - centres], 1) / pos_points[:, 2:]
        sides = sides.clamp(0, self.reg_max - 0.01)
        dfl = distribution_focal_loss(pos_bins.reshape(-1, bins_per_side), sides.reshape(-1))
        return {
            "qfl": self.qfl_weight * quality_focal_loss(logits, score_target) / num_pos,
            "giou": self.giou_weight * ((1 - giou) * weight).sum() / weight_sum,
            "dfl": self.dfl_weight * (dfl.reshape(-1, 4).mean(1) * weight).sum() / weight_sum,
        }

    def _assign(
        self, targets: torch.Tensor, points: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flat indices n·A + a of the assigned points, their object boxes, their classes)."""
        indices, boxes, labels = [], [], []
        for i, rows in enumerate(targets):
            rows = rows[rows[:, 0] >= 0]
            assigned = atss_assign(points, self.level_sizes, rows[:, 1:])
            pos = torch.nonzero(assigned >= 0).flatten()
            indices.append(pos + i * len(points))
            boxes.append(rows[assigned[pos], 1:])
            labels.append(rows[assigned[pos], 0].long())
        return torch.cat(indices), torch.cat(boxes), torch.cat(labels)
