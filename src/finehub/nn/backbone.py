"""What a fine-tunable module hands to ``finetune/``: a network plus the preprocessing it expects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn


@dataclass
class TextBackbone:
    """A transformers encoder: ``model(input_ids=..., attention_mask=...).last_hidden_state``.

    ``source_dir`` is the Hugging Face folder (config, tokenizer, weights) it was loaded from, so an
    exported fine-tuned module can be rebuilt from it plus the fine-tuned tensors.
    """

    model: nn.Module
    tokenizer: Any  # transformers.PreTrainedTokenizerBase
    hidden_size: int
    pooling: Literal["mean", "cls"]
    source_dir: Path
    max_seq_len: int = 512


@dataclass
class ImageBackbone:
    """An image network mapping a float batch N×3×H×W (already normalised) to features N×D.

    Preprocessing contract: RGB pixels in [0, 255], resized so the shorter side is ``resize`` then
    centre-cropped to ``image_size``, then ``(x - mean) / std`` per channel (values on the 0-255 scale).
    ``build`` recreates the same architecture without weights (used when loading an export).
    """

    model: nn.Module
    feature_dim: int
    image_size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    arch: str
    extra: dict[str, Any] = field(default_factory=dict)
