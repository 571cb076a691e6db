"""A linear-chain conditional random field over per-token tag scores (emissions).

``score(tags) = start[t_0] + sum_i emissions[i, t_i] + sum_i transitions[t_{i-1}, t_i] + end[t_last]``
and ``p(tags) = exp(score(tags)) / Z`` with ``Z`` summed over every tag sequence by the forward
algorithm; :meth:`CRF.decode` finds the best sequence by Viterbi. Sequences are batched and
left-aligned: ``mask[b, i]`` is True for the first ``length_b`` positions of row ``b``.
:func:`compact` turns scattered positions (e.g. the first sub-token of every word) into that layout.
"""

from __future__ import annotations

import torch
from torch import nn


def compact(values: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the positions where ``keep`` (B×T bool) is True to the front of each row, in order.

    Returns ``(packed, mask)``: ``packed`` is B×L×... with L the largest count of kept positions
    (the rest zero), ``mask`` B×L says which packed positions are real.
    """
    lengths = keep.sum(dim=1)
    width = max(int(lengths.max().item()) if keep.numel() else 0, 1)
    # a stable sort puts kept positions first, in their original order
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices[:, :width]
    index = order.reshape(order.shape + (1,) * (values.dim() - 2)).expand(-1, -1, *values.shape[2:])
    mask = torch.arange(width, device=keep.device)[None, :] < lengths[:, None]
    packed = values.gather(1, index) * mask.reshape(mask.shape + (1,) * (values.dim() - 2)).to(values.dtype)
    return packed, mask


class CRF(nn.Module):
    """Start, end and transition scores (``transitions[i, j]``: tag i followed by tag j), learned
    jointly with the network that produces the emissions."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``tags`` per row (B), for B×L×T emissions and B×L tags/mask;
        a row with no position scores 0."""
        emissions = emissions.float()
        return self._log_partition(emissions, mask) - self._path_score(emissions, tags, mask)

    def _path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(emissions.dtype)
        tags = tags.clamp(min=0) * mask  # padded positions point at tag 0 and are masked out below
        score = (emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1) * m).sum(1)
        score = score + self.transitions[tags[:, :-1], tags[:, 1:]].mul(m[:, 1:]).sum(1)
        last = (mask.sum(1) - 1).clamp(min=0)
        nonempty = mask[:, 0].to(emissions.dtype)
        score = (
            score + (self.start[tags[:, 0]] + self.end[tags.gather(1, last[:, None]).squeeze(1)]) * nonempty
        )
        return score

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        alpha = self.start + emissions[:, 0]  # B×T
        for i in range(1, emissions.shape[1]):
            step = torch.logsumexp(
                alpha.unsqueeze(2) + self.transitions + emissions[:, i].unsqueeze(1), dim=1
            )
            alpha = torch.where(mask[:, i : i + 1], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1) * mask[:, 0].to(emissions.dtype)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The highest-scoring tag sequence of each row (Viterbi), as many tags as the row's length."""
        emissions = emissions.float()
        batch, length, _ = emissions.shape
        score = self.start + emissions[:, 0]
        backpointers = []
        for i in range(1, length):
            best, arg = (score.unsqueeze(2) + self.transitions).max(dim=1)
            keep = mask[:, i : i + 1]
            score = torch.where(keep, best + emissions[:, i], score)
            backpointers.append(arg)
        score = score + self.end
        lengths = mask.sum(1).tolist()
        paths = []
        for b in range(batch):
            n = int(lengths[b])
            if n == 0:
                paths.append([])
                continue
            tag = int(score[b].argmax())
            path = [tag]
            for i in range(n - 1, 0, -1):
                tag = int(backpointers[i - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths
