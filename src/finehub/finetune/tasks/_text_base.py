"""What the text tasks share: a validated encoder set-up (length, pooling, dropout, vocabulary
extension, seeded head initialisation) and the encoder half of an export."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, collate, encode_texts, text_digest
from finehub.finetune.tasks.base import Task, as_backbone
from finehub.finetune.validation import check_bool, check_choice, check_number
from finehub.nn.backbone import TextBackbone

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from finehub.data.dataset import Dataset, TextExample


def as_text_backbone(module_or_backbone: Any) -> TextBackbone:
    """A TextBackbone, given one or a module that provides one through ``backbone()``."""
    return as_backbone(
        module_or_backbone,
        TextBackbone,
        "a text encoder; pass a text module such as hub.Module('minilm-l6') "
        "or a finehub.nn.backbone.TextBackbone",
    )


ENCODER_OPTIONS = (
    "max_seq_len",
    "pooling",
    "dropout",
    "extend_vocab_from",
    "vocab_min_count",
    "metrics",
    "main_metric",
    "seed",
)


def encoder_options(arguments: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The :class:`TextTask` settings among a subclass constructor's ``arguments`` (its
    ``locals()``), so each kind lists its parameters once, in its own signature, for YAML's checks."""
    return {**{k: arguments[k] for k in ENCODER_OPTIONS if k in arguments}, **overrides}


class TextTask(Task):
    """A task on a text encoder (a module with ``backbone()`` or a TextBackbone).

    ``extend_vocab_from`` (examples or texts) adds the CJK characters seen at least
    ``vocab_min_count`` times that the tokenizer lacks, on a copy of the tokenizer. ``seed``
    fixes the head's (and new embeddings') initial values without touching the global RNG.
    """

    def __init__(
        self,
        module: Any,
        *,
        max_seq_len: int,
        pooling: str | None = None,
        dropout: float,
        extend_vocab_from: Sequence[Any] | None,
        vocab_min_count: int,
        metrics: Sequence[str],
        main_metric: str,
        seed: int,
    ) -> None:
        from finehub.finetune.vocab import extend_vocab
        from finehub.nn.pooling import POOLINGS

        super().__init__(metrics=metrics, main_metric=main_metric)
        backbone = as_text_backbone(module)
        limit = getattr(backbone.model.config, "max_position_embeddings", None) or backbone.max_seq_len
        check_number("max_seq_len", max_seq_len, ge=2, le=limit, integer=True)  # the encoder's limit
        pooling = check_choice("pooling", pooling or backbone.pooling, POOLINGS)
        check_number("dropout", dropout, ge=0, lt=1)
        check_number("vocab_min_count", vocab_min_count, ge=1, integer=True)
        check_seed(seed)
        if isinstance(extend_vocab_from, str) or not isinstance(extend_vocab_from, (Sequence, type(None))):
            raise ConfigError(
                "extend_vocab_from", "must be a list of examples or texts (e.g. ds.train), or None"
            )
        self.backbone = backbone
        self.base_module = getattr(getattr(module, "info", None), "name", None)
        self.max_seq_len, self.pooling, self.dropout, self.seed = max_seq_len, pooling, float(dropout), seed
        self.tokenizer = backbone.tokenizer
        self.added_tokens: list[str] = []
        if extend_vocab_from is not None:
            self.tokenizer = copy.deepcopy(backbone.tokenizer)
            texts = [self.vocab_text(x) for x in extend_vocab_from]
            self.added_tokens = extend_vocab(
                self.tokenizer, backbone.model, texts, min_count=vocab_min_count, seed=seed
            )
        self.pad_id = self.tokenizer.pad_token_id or 0

    @staticmethod
    def vocab_text(item: Any) -> str:
        """The text of an example (or a plain string) that vocabulary extension reads."""
        if isinstance(item, str):
            return item
        if hasattr(item, "tokens"):
            return "".join(item.tokens)
        return " ".join(filter(None, (item.text_a, getattr(item, "text_b", None))))

    def encoding_key(self, examples: Sequence[TextExample]) -> str:
        return text_digest(
            [(e.text_a, e.text_b, e.label) for e in examples], self.max_seq_len, len(self.tokenizer)
        )  # type: ignore[misc]

    def encode_text_examples(self, examples: Sequence[TextExample], labels: np.ndarray) -> EncodedSplit:
        """The examples' texts tokenised (as pairs when any has a ``text_b``), with ``labels``."""
        texts_b = [e.text_b for e in examples] if any(e.text_b is not None for e in examples) else None
        return encode_texts(
            self.tokenizer, [e.text_a for e in examples], self.max_seq_len, texts_b=texts_b, labels=labels
        )

    def with_head(self, net: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
        """``net(encoder, hidden_size, *args, dropout=..., **kwargs)`` built under :meth:`seeded`."""
        return self.seeded(
            lambda: net(self.backbone.model, self.backbone.hidden_size, *args, dropout=self.dropout, **kwargs)
        )

    def seeded(self, build: Callable[[], nn.Module]) -> nn.Module:
        """``build()`` under a torch RNG seeded with ``seed``; the global RNG is left as it was."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build().train()

    def rows(self, texts: Any, batch_size: int) -> np.ndarray:
        """The network's output rows for ``texts`` (validated), with the current weights."""
        from finehub.modules.finetuned import check_texts, text_rows

        return text_rows(
            self.model,
            self.tokenizer,
            check_texts(texts),
            max_seq_len=self.max_seq_len,
            batch_size=batch_size,
        )

    def export_encoder(self, folder: Path) -> dict[str, Any]:
        """Write the weights, encoder config and tokenizer; return the encoder's ``config`` fields."""
        self.save_weights(folder)
        self.backbone.model.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return {
            "max_seq_len": self.max_seq_len,
            "hidden_size": self.backbone.hidden_size,
            "pooling": self.pooling,
            "added_tokens": len(self.added_tokens),
            "base_module": self.base_module,
        }


class PooledTextTask(TextTask):
    """A text task whose head reads the encoder's pooled output (classification, multi-label,
    regression). Its subclasses take two more settings:

    - ``head_hidden_size=N``: a hidden GELU layer of width N, with dropout, before the output layer.
    - ``cache_features=True`` needs a frozen encoder (e.g. ``hub.Module("multilingual-e5-small",
      frozen_layers=12)``): each example's pooled encoder output is computed once, without dropout,
      when a split is encoded, and training steps run only the head, which standardises each
      feature by the training split's mean and deviation. An epoch then costs almost nothing, so a
      CPU without bf16 can afford the whole training set and many epochs; over a frozen encoder
      the hidden layer is where the features gain most. The exported module is the same network
      and reads tokens as usual.
    """

    def pooled_net(
        self, net: Callable[..., nn.Module], *args: Any, head_hidden_size: int, cache_features: bool
    ) -> nn.Module:
        """``net(encoder, hidden_size, *args, ...)`` with this task's pooling, dropout and head;
        ConfigError if ``cache_features`` is asked of an encoder that still trains."""
        self.head_hidden_size = check_number("head_hidden_size", head_hidden_size, ge=0, integer=True)
        self.cache_features = check_bool("cache_features", cache_features)
        model = self.with_head(
            net, *args, pooling=self.pooling, head_hidden_size=head_hidden_size, standardize=cache_features
        )
        if cache_features and any(p.requires_grad for p in model.encoder.parameters()):
            raise ConfigError(
                "cache_features",
                "needs a frozen encoder (no trainable encoder parameter), e.g. "
                "hub.Module('multilingual-e5-small', frozen_layers=12)",
            )
        return model

    @property
    def steps_run_the_encoder(self) -> bool:
        return not self.cache_features

    def adopt_feature_statistics(self, dataset: Dataset) -> None:
        """With cached features, standardise them by the training split's (called from ``bind``)."""
        import torch

        if self.cache_features:
            features = self.encode(dataset.train, split="train").features
            self.model.standardize_by(torch.from_numpy(features))

    def encode_text_examples(self, examples: Sequence[TextExample], labels: np.ndarray) -> EncodedSplit:
        encoded = super().encode_text_examples(examples, labels)
        return replace(encoded, features=self.pooled_features(encoded)) if self.cache_features else encoded

    def pooled_features(self, split: EncodedSplit, batch_size: int = 64) -> np.ndarray:
        """Every example's pooled encoder output (float32, n×hidden), in batches of similar lengths."""
        import numpy as np

        from finehub.modules.finetuned import run_batches

        if not len(split):
            return np.zeros((0, self.backbone.hidden_size), dtype=np.float32)
        order = np.argsort(split.lengths, kind="stable")
        batches = (
            (rows, {k: v for k, v in collate(split, rows, self.pad_id).items() if k != "labels"})
            for rows in (order[start : start + batch_size] for start in range(0, len(order), batch_size))
        )
        return np.stack(run_batches(self.model, batches, len(split), forward=self.model.pooled))

    def export_encoder(self, folder: Path) -> dict[str, Any]:
        return {
            **super().export_encoder(folder),
            **({"head_hidden_size": self.head_hidden_size} if self.head_hidden_size else {}),
            **({"standardize_features": True} if self.cache_features else {}),
        }


def check_num_classes(num_classes: Any, *, minimum: int) -> int:
    return check_number("num_classes", num_classes, ge=minimum, integer=True)


def check_seed(seed: Any) -> int:
    return check_number("seed", seed, ge=0, lt=2**31, integer=True)


def check_label_names(label_names: Sequence[str] | None, count: int) -> list[str]:
    if label_names is None:
        return [str(i) for i in range(count)]
    if isinstance(label_names, str) or not isinstance(label_names, Sequence):
        raise ConfigError("label_names", f"must be a list of names, got {label_names!r}")
    if len(label_names) != count:
        raise ConfigError("label_names", f"has {len(label_names)} names but num_classes is {count}")
    return [str(n) for n in label_names]
