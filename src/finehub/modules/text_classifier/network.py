"""The network of a text classifier: a transformers encoder, pooling, dropout and a linear head.

Fine-tuning trains it and exported modules rebuild it, so the module can run without any
training code. Parameter names (``encoder.*``, ``head.*``) are the export format's keys.
"""

from __future__ import annotations

import torch
from torch import nn

from finehub.nn.pooling import TextPooling, pool_tokens


class TextClassifierNet(nn.Module):
    """``logits = head(dropout(pool(encoder(tokens))))``."""

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int,
        num_classes: int,
        *,
        pooling: TextPooling = "mean",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling: TextPooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return self.head(self.dropout(pool_tokens(hidden, attention_mask, self.pooling)))
