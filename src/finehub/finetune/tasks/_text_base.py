"""What the text tasks share: a validated encoder set-up (length, pooling, dropout, vocabulary
extension, seeded head initialisation) and the encoder half of an export."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, encode_texts, text_digest
from finehub.finetune.tasks.base import Task, as_backbone
from finehub.finetune.validation import check_choice, check_number
from finehub.nn.backbone import TextBackbone

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from finehub.data.dataset import TextExample


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
    "head_hidden_size",
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
    ``head_hidden_size`` (kinds with a pooled head) puts a hidden layer of that width in the head.
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
        head_hidden_size: int = 0,
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
        check_number("head_hidden_size", head_hidden_size, ge=0, integer=True)
        if isinstance(extend_vocab_from, str) or not isinstance(extend_vocab_from, (Sequence, type(None))):
            raise ConfigError(
                "extend_vocab_from", "must be a list of examples or texts (e.g. ds.train), or None"
            )
        self.backbone = backbone
        self.base_module = getattr(getattr(module, "info", None), "name", None)
        self.max_seq_len, self.pooling, self.dropout, self.seed = max_seq_len, pooling, float(dropout), seed
        self.head_hidden_size = head_hidden_size
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

    def with_pooled_head(self, net: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
        """:meth:`with_head` for the nets that pool the encoder's output, with this task's head."""
        return self.with_head(
            net, *args, pooling=self.pooling, head_hidden_size=self.head_hidden_size, **kwargs
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
            **({"head_hidden_size": self.head_hidden_size} if self.head_hidden_size else {}),
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
