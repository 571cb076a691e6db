"""Single-label text classification (sentiment, topic, intent...), texts or text pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, collate
from finehub.finetune.kinds import OnnxSpec, task_kind, text_settings
from finehub.finetune.metrics import CLASSIFICATION_METRICS
from finehub.finetune.tasks._text_base import TextTask, check_label_names, check_num_classes, encoder_options
from finehub.finetune.tasks.base import SingleLabelClassification, adopt_label_names, check_class_count
from finehub.finetune.validation import check_bool

if TYPE_CHECKING:
    import numpy as np

    from finehub.data.dataset import Dataset, TextExample


@task_kind(
    "text-classification",
    names=("TextClassificationTask", "TextClassifierTask"),
    module="finehub.modules.text_classifier:TextClassifier",
    tags=("text", "classification"),
    onnx=OnnxSpec(settings=text_settings("label_names")),
)
class TextClassificationTask(SingleLabelClassification, TextTask):
    """Pooled encoder output -> dropout -> linear layer -> softmax over ``num_classes`` labels.

    ``extend_vocab_from`` (training examples or texts) adds the CJK characters seen at least
    ``vocab_min_count`` times that the tokenizer lacks, with new embedding rows; the tokenizer is
    copied first, so the module the backbone came from keeps its own. ``seed`` fixes the head's
    and the new embeddings' initial values. Label names default to the dataset's.

    ``cache_features=True`` needs a frozen encoder (e.g. ``hub.Module("multilingual-e5-small",
    frozen_layers=12)``): each example's pooled encoder output is computed once, without dropout,
    when a split is encoded, and training steps run only the head, which standardises each feature
    by the training split's mean and deviation. An epoch then costs almost nothing, so a CPU without
    bf16 can afford the whole training set and many epochs; ``head_hidden_size`` (e.g. 256) gives
    the head a hidden layer, which is where a frozen encoder's features gain most. The exported
    module is the same network and reads tokens as usual.
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
        self.cache_features = check_bool("cache_features", cache_features)
        super().__init__(module, **encoder_options(locals()))
        self.model = self.with_pooled_head(TextClassifierNet, num_classes, standardize=self.cache_features)
        if self.cache_features and any(p.requires_grad for p in self.model.encoder.parameters()):
            raise ConfigError(
                "cache_features",
                "needs a frozen encoder (no trainable encoder parameter), e.g. "
                "hub.Module('multilingual-e5-small', frozen_layers=12)",
            )

    def __repr__(self) -> str:
        return (
            f"TextClassificationTask(num_classes={self.num_classes}, max_seq_len={self.max_seq_len}, "
            f"pooling={self.pooling!r}, dropout={self.dropout}, added_tokens={len(self.added_tokens)}"
            + (f", head_hidden_size={self.head_hidden_size}" if self.head_hidden_size else "")
            + (", cache_features=True)" if self.cache_features else ")")
        )

    def bind(self, dataset: Dataset) -> None:
        """Check the classes; with cached features, standardise them by the training split's."""
        import torch

        check_class_count(self, dataset)
        adopt_label_names(self, dataset)
        if self.cache_features:
            features = self.encode(dataset.train, split="train").features
            self.model.standardize_by(torch.from_numpy(features))

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
        encoded = self.encode_text_examples(examples, labels)
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
            **({"standardize_features": True} if self.cache_features else {}),
        }


TextClassifierTask = TextClassificationTask  # PaddleHub's name
