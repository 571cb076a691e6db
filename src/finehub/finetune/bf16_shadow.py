"""bf16 training copies of a model's transformers encoders, with the fp32 weights as masters.

Under ``torch.autocast`` a CPU step recasts every weight to bf16 in each forward pass, casts each
weight gradient back, and runs LayerNorm, GELU and the residual stream in fp32, converting
activations at every Linear: about a tenth of a MiniLM step on an AVX512-BF16 CPU. Training a
bf16 copy of the encoder instead keeps the whole stream in bf16, while the fp32 model stays the
one the optimizer updates and that evaluation, checkpoints and export read ("master weights"):

    forward/backward on the copy -> bf16 grads cast onto the fp32 params -> optimizer step on
    fp32 -> fp32 weights cast onto the copy

Only transformers encoders are copied; heads, CRFs and any other part (and their buffers) are
shared with the model and train in fp32 under autocast as before. The copy is a function of the
fp32 weights, so a resumed run rebuilds it exactly.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def _encoders(model: nn.Module) -> list[nn.Module]:
    """The outermost transformers models inside ``model``."""
    from transformers import PreTrainedModel

    found: list[nn.Module] = []
    inner: set[int] = set()
    for module in model.modules():
        if id(module) in inner or not isinstance(module, PreTrainedModel):
            continue
        found.append(module)
        inner.update(id(m) for m in module.modules())
    return found


class BF16Shadow:
    """``net``: ``model`` with its transformers encoders replaced by bf16 copies, for training."""

    def __init__(self, model: nn.Module) -> None:
        import torch

        copied = {id(t) for enc in _encoders(model) for t in [*enc.parameters(), *enc.buffers()]}
        shared = {id(t): t for t in [*model.parameters(), *model.buffers()] if id(t) not in copied}
        self.net: nn.Module = copy.deepcopy(model, memo=shared)  # type: ignore[arg-type]
        pairs = [
            (p, q) for p, q in zip(model.parameters(), self.net.parameters(), strict=True) if id(p) in copied
        ]
        self.masters: list[torch.Tensor] = [p for p, _ in pairs]
        self.copies: list[torch.Tensor] = [q for _, q in pairs]
        for encoder in _encoders(self.net):
            encoder.to(torch.bfloat16)

    @classmethod
    def applies_to(cls, model: nn.Module) -> bool:
        return bool(_encoders(model))

    def sync_trainable(self) -> None:
        """Freeze and unfreeze the copies as the model's parameters are (gradual unfreezing)."""
        for p, q in zip(self.masters, self.copies, strict=True):
            q.requires_grad_(p.requires_grad)

    def grads_to_masters(self) -> None:
        """Add each copy's gradient to its fp32 master's (which may hold a regulariser's)."""
        for p, q in zip(self.masters, self.copies, strict=True):
            if q.grad is None:
                continue
            if p.grad is None:
                p.grad = q.grad.float()
            else:
                p.grad.add_(q.grad)
            q.grad = None

    def weights_from_masters(self) -> None:
        """Cast the updated fp32 weights onto the copies. Frozen weights are skipped: the optimizer
        leaves them as they were when the copy was made, and a frozen embedding table (e5's is 96 M
        parameters) would otherwise be recast at every step."""
        import torch

        pairs = [(q, p) for p, q in zip(self.masters, self.copies, strict=True) if p.requires_grad]
        if pairs:
            with torch.no_grad():
                torch._foreach_copy_([q for q, _ in pairs], [p for _, p in pairs])
