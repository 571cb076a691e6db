"""The network of a fine-tuned image classifier: an image backbone's pooled features, dropout,
and a linear head. Parameter names (``encoder.*``, ``head.*``) are the export format's keys;
``encoder`` is the pretrained part, as fine-tuning strategies expect."""

from __future__ import annotations

import torch
from torch import nn


class ImageClassifierNet(nn.Module):
    """``logits = head(dropout(encoder(pixel_values)))``; ``encoder`` (the backbone) maps N×3×H×W to N×D."""

    def __init__(
        self, backbone: nn.Module, feature_dim: int, num_classes: int, *, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.encoder = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(pixel_values)))
