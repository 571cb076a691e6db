"""Faster training kernels for transformers encoders on a CPU, swapped in for the length of a run.

In a bf16 fine-tuning step of MiniLM-L6 on a 2-core AVX512-BF16 CPU, ``torch.nn.functional.dropout``
took about a fifth of the time (its float Bernoulli draw costs some 70 times a multiply), and
PyTorch's CPU flash-attention kernel, used when attention dropout is off, spent a third of the
step in its backward pass, which two batched matmuls do several times faster. So, inside
:func:`cpu_training_kernels`:

- every ``nn.Dropout`` draws its mask from 16 random bits per element (one 64-bit draw serves
  four elements) instead of a float Bernoulli draw: the same inverted dropout, with the drop rate
  rounded to a multiple of 1/65536 and the scale matched to it, so activations keep their mean;
- attention runs as matmul, softmax, dropout, matmul (transformers' eager attention), with the
  same dropout, through transformers' attention registry.

Both draw from torch's global generator, so seeded runs repeat and checkpoints resume exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

ATTENTION = "finehub_cpu"  # the name the attention function is registered under in transformers
_LEVELS = 1 << 16


def bit_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of ``x`` at rate ``p`` from 16-bit random thresholds."""
    if p <= 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    drop_levels = min(max(round(p * _LEVELS), 1), _LEVELS - 1)
    words = -(-x.numel() // 4)  # four 16-bit draws per 64-bit word
    bits = torch.empty(words, dtype=torch.int64, device=x.device).random_(-(1 << 63), None)
    keep = bits.view(torch.int16)[: x.numel()].view(x.shape) >= drop_levels - (1 << 15)
    # as torch does, the scale is applied in x's dtype; uint8 -> float converts ~8× faster than bool
    return x * keep.view(torch.uint8).to(x.dtype).mul_(_LEVELS / (_LEVELS - drop_levels))


class BitDropout(nn.Dropout):
    """``nn.Dropout`` whose training-mode mask comes from :func:`bit_dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bit_dropout(x, self.p) if self.training else x


def matmul_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' attention-function signature: B×H×T×d query/key/value -> B×T×H×d output."""
    scale = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scale, key.transpose(2, 3))  # scaling T×d, not T×T, values
    if attention_mask is not None:  # in the scores' dtype: bf16 probabilities halve dropout's traffic
        scores = scores + attention_mask.to(scores.dtype)
    probs = scores.softmax(dim=-1)
    if module.training and dropout > 0.0:
        probs = bit_dropout(probs, dropout)
    out = torch.matmul(probs.to(value.dtype), value)
    return out.transpose(1, 2).contiguous(), probs


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    if ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION, matmul_attention)
        AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["eager"])


@contextlib.contextmanager
def cpu_training_kernels(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with :class:`BitDropout` for every dropout layer and, for transformers models that
    take registered attention functions, :func:`matmul_attention`; all restored on exit."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    configs: dict[int, tuple[Any, str]] = {}
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                replacement = BitDropout(child.p)
                replacement.train(child.training)
                setattr(parent, name, replacement)
                swapped.append((parent, name, child))
        config = getattr(parent, "config", None)
        if getattr(parent, "_supports_attention_backend", False) and id(config) not in configs:
            configs[id(config)] = (config, config._attn_implementation)
    if configs:
        _register_attention()
    try:
        for config, _ in configs.values():
            config._attn_implementation = ATTENTION
        yield model
    finally:
        for config, before in configs.values():
            config._attn_implementation = before
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)
