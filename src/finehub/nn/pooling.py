"""Pooling token states into one vector per text, shared by text modules and fine-tuning heads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import torch

TextPooling = Literal["mean", "cls"]
POOLINGS: tuple[str, ...] = ("mean", "cls")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where ``attention_mask`` is 1 (padding does not count).

    ``hidden`` is N×T×D, ``attention_mask`` N×T; the result is N×D. A row with no token at all
    (impossible with a tokenizer that adds [CLS]/[SEP]) gives zeros, not NaN.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def cls_pool(hidden: torch.Tensor) -> torch.Tensor:
    """The state of the first token ([CLS] for BERT-style tokenizers)."""
    return hidden[:, 0]


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: TextPooling) -> torch.Tensor:
    """N×T×D token states -> N×D, by ``mode`` ("mean" or "cls")."""
    if mode == "mean":
        return mean_pool(hidden, attention_mask)
    if mode == "cls":
        return cls_pool(hidden)
    raise ConfigError("pooling", f"must be one of {', '.join(POOLINGS)}, got {mode!r}")
