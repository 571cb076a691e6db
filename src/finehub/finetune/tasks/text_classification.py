"""Single-label text classification (sentiment, topic, intent...), texts or text pairs."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, encode_texts, text_digest
from finehub.finetune.metrics import CLASSIFICATION_METRICS, classification_metrics, confusion_matrix
from finehub.finetune.tasks.base import Task
from finehub.nn.backbone import TextBackbone

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

log = logging.getLogger(__name__)


def as_text_backbone(module_or_backbone: Any) -> TextBackbone:
    """A TextBackbone, given one or a module that provides one through ``backbone()``."""
    if isinstance(module_or_backbone, TextBackbone):
        return module_or_backbone
    backbone = getattr(module_or_backbone, "backbone", None)
    if callable(backbone):
        result = backbone()
        if isinstance(result, TextBackbone):
            return result
    raise ConfigError(
        "module",
        f"{module_or_backbone!r} is not a text encoder; pass a text module such as hub.Module('minilm-l6') "
        "or a finehub.nn.backbone.TextBackbone",
    )


class TextClassificationTask(Task):
    """Pooled encoder output -> dropout -> linear layer -> softmax over ``num_classes`` labels.

    ``extend_vocab_from`` (training examples or texts) adds the CJK characters seen at least
    ``vocab_min_count`` times that the tokenizer lacks, with new embedding rows; the tokenizer is
    copied first, so the module the backbone came from is left unchanged. ``seed`` fixes the
    head's and the new embeddings' initial values.
    """

    known_metrics = CLASSIFICATION_METRICS

    def __init__(
        self,
        module: Any,
        num_classes: int,
        max_seq_len: int = 128,
        *,
        pooling: str | None = None,
        dropout: float = 0.1,
        label_names: Sequence[str] | None = None,
        extend_vocab_from: Sequence[TextExample | str] | None = None,
        vocab_min_count: int = 2,
        metrics: Sequence[str] = CLASSIFICATION_METRICS,
        main_metric: str = "accuracy",
        seed: int = 0,
    ) -> None:
        import torch

        from finehub.finetune.vocab import extend_vocab
        from finehub.modules.text_classifier.network import TextClassifierNet
        from finehub.nn.pooling import POOLINGS

        super().__init__(metrics=metrics, main_metric=main_metric)
        backbone = as_text_backbone(module)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ConfigError("num_classes", f"must be an integer >= 2, got {num_classes!r}")
        limit = getattr(backbone.model.config, "max_position_embeddings", None) or backbone.max_seq_len
        if not isinstance(max_seq_len, int) or not 2 <= max_seq_len <= limit:
            raise ConfigError(
                "max_seq_len",
                f"must be an integer from 2 to {limit} (the encoder's limit), got {max_seq_len!r}",
            )
        pooling = pooling or backbone.pooling
        if pooling not in POOLINGS:
            raise ConfigError("pooling", f"must be one of {list(POOLINGS)}, got {pooling!r}")
        if not 0 <= dropout < 1:
            raise ConfigError("dropout", f"must be in [0, 1), got {dropout!r}")
        if label_names is not None and len(label_names) != num_classes:
            raise ConfigError("label_names", f"has {len(label_names)} names but num_classes is {num_classes}")
        if not isinstance(vocab_min_count, int) or vocab_min_count < 1:
            raise ConfigError("vocab_min_count", f"must be a positive integer, got {vocab_min_count!r}")

        self.backbone = backbone
        self.base_module = getattr(getattr(module, "info", None), "name", None)
        self.num_classes, self.max_seq_len, self.pooling, self.dropout = (
            num_classes,
            max_seq_len,
            pooling,
            dropout,
        )
        self.label_names = (
            list(label_names) if label_names is not None else [str(i) for i in range(num_classes)]
        )
        self.tokenizer = backbone.tokenizer
        self.added_tokens: list[str] = []
        if extend_vocab_from is not None:
            self.tokenizer = copy.deepcopy(backbone.tokenizer)
            texts = [
                t if isinstance(t, str) else " ".join(filter(None, (t.text_a, t.text_b)))
                for t in extend_vocab_from
            ]
            self.added_tokens = extend_vocab(
                self.tokenizer, backbone.model, texts, min_count=vocab_min_count, seed=seed
            )
        self.pad_id = self.tokenizer.pad_token_id or 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = TextClassifierNet(
                backbone.model,
                backbone.hidden_size,
                num_classes,
                pooling=pooling,
                dropout=dropout,  # type: ignore[arg-type]
            )
        self.model.train()

    def __repr__(self) -> str:
        return (
            f"TextClassificationTask(num_classes={self.num_classes}, max_seq_len={self.max_seq_len}, "
            f"pooling={self.pooling!r}, dropout={self.dropout}, added_tokens={len(self.added_tokens)})"
        )

    def bind(self, dataset: Dataset) -> None:
        if dataset.num_classes != self.num_classes:
            raise ConfigError(
                "num_classes",
                f"the task has {self.num_classes} classes but dataset {dataset.name!r} has {dataset.num_classes} "
                f"({dataset.label_names}); build the task with num_classes=ds.num_classes",
            )
        if self.label_names == [str(i) for i in range(self.num_classes)]:
            self.label_names = list(dataset.label_names)

    def encoding_key(self, examples: Sequence[TextExample]) -> str:
        pairs = [(e.text_a, e.text_b, e.label) for e in examples]
        return text_digest(pairs, self.max_seq_len, len(self.tokenizer))  # type: ignore[arg-type]

    def encode_examples(self, examples: Sequence[TextExample], *, split: str) -> EncodedSplit:
        import numpy as np

        bad = next(
            (i for i, e in enumerate(examples) if not isinstance(e.label, int) or isinstance(e.label, bool)),
            None,
        )
        if bad is not None:
            raise ConfigError(
                f"{split}[{bad}].label",
                f"{examples[bad].label!r} is not a class index; text classification needs one per example",
            )
        labels = np.fromiter((e.label for e in examples), dtype=np.int64, count=len(examples))
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ConfigError(f"{split} labels", f"must be class indices in [0, {self.num_classes})")
        texts_b = [e.text_b for e in examples] if any(e.text_b is not None for e in examples) else None
        return encode_texts(
            self.tokenizer, [e.text_a for e in examples], self.max_seq_len, texts_b=texts_b, labels=labels
        )

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs.float(), labels)

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        preds = outputs.argmax(-1).cpu().numpy()
        metrics: dict[str, Any] = classification_metrics(labels, preds, self.num_classes, self.metrics)
        metrics["confusion_matrix"] = confusion_matrix(labels, preds, self.num_classes).tolist()
        return metrics

    def predict(
        self, texts: Sequence[str | Sequence[str]], *, top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """``[{"label", "score", "probabilities": {label: p}}]`` from the current weights (the best
        ones once the Trainer has finished)."""
        from finehub.modules.text_classifier import check_texts, format_predictions, predict_proba

        probs = predict_proba(
            self.model,
            self.tokenizer,
            check_texts(texts),
            max_seq_len=self.max_seq_len,
            batch_size=batch_size,
        )
        return format_predictions(probs, self.label_names, top_k)

    def export_files(self, folder: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        from finehub.modules.text_classifier import ENTRY, WEIGHTS, TextClassifier

        state = {k: v.detach().to("cpu").contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        self.model.encoder.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        info = TextClassifier.info
        return {
            "entry": ENTRY,
            "task": "text-classification",
            "tags": ["text", "classification"],
            "inputs": dict(info.inputs),
            "outputs": dict(info.outputs),
            "config": {
                "num_classes": self.num_classes,
                "label_names": list(self.label_names),
                "pooling": self.pooling,
                "max_seq_len": self.max_seq_len,
                "hidden_size": self.backbone.hidden_size,
                "added_tokens": len(self.added_tokens),
                "base_module": self.base_module,
            },
        }


TextClassifierTask = TextClassificationTask  # PaddleHub's name
