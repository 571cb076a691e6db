"""The network of a fine-tuned image classifier: an image backbone's pooled features, dropout,
and a linear head. Parameter names (``encoder.*``, ``head.*``) are the export format's keys;
``encoder`` is the pretrained part, as fine-tuning strategies expect."""

from __future__ import annotations

import torch
from torch import nn


class ImageClassifierNet(nn.Module):
    """``logits = head(dropout(encoder(pixel_values)))``; ``encoder`` (the backbone) maps N×3×H×W to N×D."""

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        *,
        dropout: float = 0.2,
        freeze_norm: bool = False,
    ) -> None:
        super().__init__()
        self.freeze_norm = freeze_norm
        self.encoder = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def train(self, mode: bool = True) -> ImageClassifierNet:
        """With ``freeze_norm``, batch-norm layers stay in eval mode: they normalise with their
        pretrained statistics (and do not update them) while their scale and shift still train, so
        small fine-tuning batches see exactly the normalisation evaluation will use."""
        super().train(mode)
        if mode and self.freeze_norm:
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(pixel_values)))
