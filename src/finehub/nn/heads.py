"""The heads fine-tuning puts on a pretrained encoder, as whole networks (encoder + head).

Fine-tuning trains them and exported modules rebuild them, so a module runs without any training
code. Parameter names (``encoder.*``, ``head.*``, ``crf.*``) are the export format's keys;
``encoder`` is always the pretrained part, as fine-tuning strategies expect. Multi-label
classification needs nothing new: it is a :class:`TextClassifierNet` read through sigmoids.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from finehub.nn.crf import CRF
from finehub.nn.pooling import TextPooling, pool_tokens

MatchHead = Literal["classification", "cosine"]
MATCH_HEADS: tuple[str, ...] = ("classification", "cosine")


def _encode(
    encoder: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
    return encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


class _TokenNet(nn.Module):
    """The single-text nets' forward contract (also their ONNX inputs): encoder states of a token
    batch, then ``self.output(hidden, attention_mask)``."""

    def __init__(self, encoder: nn.Module, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.output(_encode(self.encoder, input_ids, attention_mask, token_type_ids), attention_mask)

    def output(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def pooled_head(hidden_size: int, outputs: int, head_hidden_size: int, dropout: float) -> nn.Module:
    """A linear layer, or with ``head_hidden_size`` one hidden GELU layer (dropout after it) before
    it: worth it over a frozen encoder, whose pooled features a linear layer cannot reshape."""
    if not head_hidden_size:
        return nn.Linear(hidden_size, outputs)
    return nn.Sequential(
        nn.Linear(hidden_size, head_hidden_size),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(head_hidden_size, outputs),
    )


class TextClassifierNet(_TokenNet):
    """``logits = head(dropout(pool(encoder(tokens))))``; ``features``, the pooled output of a
    frozen encoder computed beforehand, skip the encoder.

    ``standardize`` adds buffers that centre and scale each pooled feature (identity until
    :meth:`standardize_by` sets them from training features): a frozen encoder's features differ in
    scale by orders of magnitude, which the head otherwise has to learn around.
    """

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int,
        num_classes: int,
        *,
        pooling: TextPooling = "mean",
        dropout: float = 0.1,
        head_hidden_size: int = 0,
        standardize: bool = False,
    ) -> None:
        super().__init__(encoder, dropout)
        self.pooling: TextPooling = pooling
        self.head = pooled_head(hidden_size, num_classes, head_hidden_size, dropout)
        self.standardize = standardize
        if standardize:
            self.register_buffer("feature_mean", torch.zeros(hidden_size))
            self.register_buffer("feature_std", torch.ones(hidden_size))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if features is not None:
            return self.from_pooled(features)
        assert input_ids is not None and attention_mask is not None, "tokens or features are needed"
        return super().forward(input_ids, attention_mask, token_type_ids)

    def output(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.from_pooled(pool_tokens(hidden, attention_mask, self.pooling))

    def from_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.standardize:
            pooled = (pooled - self.feature_mean) / self.feature_std
        return self.head(self.dropout(pooled))

    @torch.no_grad()
    def standardize_by(self, features: torch.Tensor) -> None:
        """Adopt the mean and standard deviation of ``features`` (n×hidden), floored away from 0."""
        features = features.float()
        self.feature_mean.copy_(features.mean(dim=0))
        self.feature_std.copy_(features.std(dim=0, correction=0).clamp_min(1e-6))

    def pooled(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The encoder's pooled output: what ``features`` stand for."""
        return pool_tokens(
            _encode(self.encoder, input_ids, attention_mask, token_type_ids), attention_mask, self.pooling
        )


class TextRegressorNet(TextClassifierNet):
    """One output per text, in the label's units: ``head(...) * scale + shift``.

    ``shift``/``scale`` (buffers, saved with the weights) are the training labels' mean and
    standard deviation, so the head learns a standardised target whatever the label's range.
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, **head: Any) -> None:
        """``head``: :class:`TextClassifierNet`'s options (pooling, dropout, head_hidden_size)."""
        super().__init__(encoder, hidden_size, 1, **head)
        self.register_buffer("shift", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    def from_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        return super().from_pooled(pooled).squeeze(-1) * self.scale + self.shift


class TokenTaggerNet(_TokenNet):
    """Per-token tag scores: ``head(dropout(encoder(tokens)))``, B×T×num_tags, plus an optional
    CRF whose transition scores decoding uses. ``pad_to`` widens the output to a fixed length
    (zeros) so batches of different widths concatenate."""

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int,
        num_tags: int,
        *,
        dropout: float = 0.1,
        crf: bool = False,
        pad_to: int | None = None,
    ) -> None:
        super().__init__(encoder, dropout)
        self.head = nn.Linear(hidden_size, num_tags)
        self.crf = CRF(num_tags) if crf else None
        self.pad_to = pad_to

    def output(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.head(self.dropout(hidden))
        if self.pad_to is not None and scores.shape[1] < self.pad_to:
            scores = F.pad(scores, (0, 0, 0, self.pad_to - scores.shape[1]))
        return scores


class SiameseNet(nn.Module):
    """Both texts through one shared encoder and pooling (a bi-encoder), then a head.

    ``head="classification"``: logits from ``[u, v, |u - v|, u * v]`` (Sentence-BERT's features);
    ``head="cosine"``: the cosine similarity of ``u`` and ``v``, one number per pair.
    """

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int,
        *,
        head: MatchHead = "classification",
        num_classes: int = 2,
        pooling: TextPooling = "mean",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling: TextPooling = pooling
        self.kind = head
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4 * hidden_size, num_classes) if head == "classification" else None

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return pool_tokens(_encode(self.encoder, input_ids, attention_mask), attention_mask, self.pooling)

    def forward(
        self,
        input_ids_a: torch.Tensor,
        attention_mask_a: torch.Tensor,
        input_ids_b: torch.Tensor,
        attention_mask_b: torch.Tensor,
    ) -> torch.Tensor:
        u, v = self.embed(input_ids_a, attention_mask_a), self.embed(input_ids_b, attention_mask_b)
        if self.head is None:
            return F.cosine_similarity(u, v, dim=-1)
        return self.head(self.dropout(torch.cat([u, v, (u - v).abs(), u * v], dim=-1)))


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
