"""Single-label text classification (sentiment, topic, intent...), texts or text pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit
from finehub.finetune.kinds import OnnxSpec, task_kind, text_settings
from finehub.finetune.metrics import CLASSIFICATION_METRICS
from finehub.finetune.tasks._text_base import (
    PooledTextTask,
    check_label_names,
    check_num_classes,
    encoder_options,
)
from finehub.finetune.tasks.base import SingleLabelClassification, adopt_label_names, check_class_count

if TYPE_CHECKING:
    from finehub.data.dataset import Dataset, TextExample


@task_kind(
    "text-classification",
    names=("TextClassificationTask", "TextClassifierTask"),
    module="finehub.modules.text_classifier:TextClassifier",
    tags=("text", "classification"),
    onnx=OnnxSpec(settings=text_settings("label_names")),
)
class TextClassificationTask(SingleLabelClassification, PooledTextTask):
    """Pooled encoder output -> dropout -> linear layer -> softmax over ``num_classes`` labels.

    ``extend_vocab_from`` (training examples or texts) adds the CJK characters seen at least
    ``vocab_min_count`` times that the tokenizer lacks, with new embedding rows; the tokenizer is
    copied first, so the module the backbone came from keeps its own. ``seed`` fixes the head's
    and the new embeddings' initial values. Label names default to the dataset's.

    ``head_hidden_size`` and ``cache_features``: see :class:`PooledTextTask`.
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
        head_hidden_size: int = 0,
        cache_features: bool = False,
    ) -> None:
        from finehub.nn.heads import TextClassifierNet

        self.num_classes = check_num_classes(num_classes, minimum=2)
        self.label_names = check_label_names(label_names, num_classes)
        super().__init__(module, **encoder_options(locals()))
        self.model = self.pooled_net(
            TextClassifierNet, num_classes, head_hidden_size=head_hidden_size, cache_features=cache_features
        )

    def __repr__(self) -> str:
        return (
            f"TextClassificationTask(num_classes={self.num_classes}, max_seq_len={self.max_seq_len}, "
            f"pooling={self.pooling!r}, dropout={self.dropout}, added_tokens={len(self.added_tokens)}"
            + (f", head_hidden_size={self.head_hidden_size}" if self.head_hidden_size else "")
            + (", cache_features=True)" if self.cache_features else ")")
        )

    def bind(self, dataset: Dataset) -> None:
        check_class_count(self, dataset)
        adopt_label_names(self, dataset)
        self.adopt_feature_statistics(dataset)

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
        return self.encode_text_examples(examples, labels)

    def predict(
        self, texts: Sequence[str | Sequence[str]], *, top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """``[{"label", "score", "probabilities": {label: p}}]`` from the current weights (the best
        ones once the Trainer has finished)."""
        from finehub.modules.text_classifier import TextClassifier

        return TextClassifier.results(
            self.rows(texts, batch_size), {"label_names": self.label_names}, top_k=top_k
        )

    def export_config(self, folder: Path) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            **self.export_encoder(folder),
        }


TextClassifierTask = TextClassificationTask  # PaddleHub's name
