"""Greedy non-maximum suppression in plain PyTorch (no torchvision).

Boxes are ``(x1, y1, x2, y2)`` rows. Two overlap measures are offered: ``"union"`` (IoU,
intersection over union) and ``"min"`` (intersection over the smaller area, which also removes a
small box lying inside a bigger one; MTCNN uses it in its last stage). With ``inclusive=True``
coordinates are inclusive pixel indices, so a box spans ``x2 - x1 + 1`` pixels, the convention of
the original MTCNN code.

Both functions return indices into the input, ordered by decreasing score; equal scores keep their
input order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import torch

Mode = Literal["union", "min"]


def box_area(boxes: torch.Tensor, *, inclusive: bool = False) -> torch.Tensor:
    """Areas of N×4 boxes (0 for degenerate boxes)."""
    extra = 1.0 if inclusive else 0.0
    w = (boxes[:, 2] - boxes[:, 0] + extra).clamp(min=0)
    h = (boxes[:, 3] - boxes[:, 1] + extra).clamp(min=0)
    return w * h


def box_overlap(
    box: torch.Tensor, others: torch.Tensor, *, mode: Mode = "union", inclusive: bool = False
) -> torch.Tensor:
    """Overlap of one box (shape 4) with each of M boxes (M×4), by ``mode``."""
    import torch

    extra = 1.0 if inclusive else 0.0
    w = (torch.minimum(box[2], others[:, 2]) - torch.maximum(box[0], others[:, 0]) + extra).clamp(min=0)
    h = (torch.minimum(box[3], others[:, 3]) - torch.maximum(box[1], others[:, 1]) + extra).clamp(min=0)
    inter = w * h
    area = box_area(box[None], inclusive=inclusive)
    areas = box_area(others, inclusive=inclusive)
    denom = torch.minimum(area, areas) if mode == "min" else area + areas - inter
    return inter / denom.clamp(min=1e-12)


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    threshold: float,
    *,
    mode: Mode = "union",
    inclusive: bool = False,
) -> torch.Tensor:
    """Indices of the boxes kept: a box is dropped when its overlap with a higher-scoring kept box
    is above ``threshold``."""
    import torch

    _check_mode(mode)
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes[order].float()
    keep: list[int] = []
    remaining = torch.arange(len(order), device=boxes.device)
    while remaining.numel() > 0:
        top = int(remaining[0])
        keep.append(top)
        rest = remaining[1:]
        if rest.numel() == 0:
            break
        overlap = box_overlap(boxes[top], boxes[rest], mode=mode, inclusive=inclusive)
        remaining = rest[overlap <= threshold]
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    threshold: float,
    *,
    mode: Mode = "union",
    inclusive: bool = False,
) -> torch.Tensor:
    """:func:`nms` run separately within each group (class, image, ...): boxes of different
    groups never suppress each other."""
    import torch

    _check_mode(mode)
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    kept = []
    for group in torch.unique(groups):
        members = torch.nonzero(groups == group).flatten()
        kept.append(members[nms(boxes[members], scores[members], threshold, mode=mode, inclusive=inclusive)])
    keep = torch.sort(torch.cat(kept)).values
    order = torch.sort(scores[keep], descending=True, stable=True).indices
    return keep[order]


def _check_mode(mode: str) -> None:
    if mode not in ("union", "min"):
        raise ConfigError("mode", f"NMS overlap mode must be 'union' or 'min', got {mode!r}")
