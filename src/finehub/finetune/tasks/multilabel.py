"""Multi-label text classification: any number of labels per text, one sigmoid per label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, encode_texts, text_digest
from finehub.finetune.tasks._text_base import TextTask, check_label_names, check_num_classes

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

MULTILABEL_METRICS = ("auc", "micro_f1", "macro_f1")


class MultiLabelClassificationTask(TextTask):
    """Pooled encoder output -> dropout -> linear layer -> ``num_classes`` independent sigmoids,
    trained with binary cross-entropy. A label is predicted when its probability reaches
    ``threshold``. Metrics: ``auc`` (mean over labels of the per-label ROC AUC, labels with a
    single class in the split left out), ``micro_f1`` and ``macro_f1`` at ``threshold``.
    Examples carry a tuple of label indices (``Dataset(task="multilabel")``).
    """

    known_metrics = MULTILABEL_METRICS

    def __init__(
        self,
        module: Any,
        num_classes: int,
        max_seq_len: int = 128,
        *,
        threshold: float = 0.5,
        pooling: str | None = None,
        dropout: float = 0.1,
        label_names: Sequence[str] | None = None,
        extend_vocab_from: Sequence[TextExample | str] | None = None,
        vocab_min_count: int = 2,
        metrics: Sequence[str] = MULTILABEL_METRICS,
        main_metric: str = "auc",
        seed: int = 0,
    ) -> None:
        from finehub.modules.text_classifier.network import TextClassifierNet

        super().__init__(
            module,
            max_seq_len=max_seq_len,
            pooling=pooling,
            dropout=dropout,
            extend_vocab_from=extend_vocab_from,
            vocab_min_count=vocab_min_count,
            metrics=metrics,
            main_metric=main_metric,
            seed=seed,
        )
        self.num_classes = check_num_classes(num_classes, minimum=1, what="labels")
        self.label_names = check_label_names(label_names, num_classes)
        if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise ConfigError("threshold", f"must be a number in (0, 1), got {threshold!r}")
        self.threshold = float(threshold)
        self.model = self.seeded(
            lambda: TextClassifierNet(
                self.backbone.model,
                self.backbone.hidden_size,
                num_classes,
                pooling=self.pooling,
                dropout=self.dropout,
            )
        )

    def __repr__(self) -> str:
        return (
            f"MultiLabelClassificationTask(num_classes={self.num_classes}, max_seq_len={self.max_seq_len}, "
            f"threshold={self.threshold}, pooling={self.pooling!r}, added_tokens={len(self.added_tokens)})"
        )

    def bind(self, dataset: Dataset) -> None:
        if dataset.task != "multilabel" or dataset.num_classes != self.num_classes:
            raise ConfigError(
                "dataset",
                f"{dataset.name!r} is a {dataset.task} dataset with {dataset.num_classes} labels; this task "
                f"needs a multilabel dataset with {self.num_classes} (load one with task='multilabel')",
            )
        if self.label_names == [str(i) for i in range(self.num_classes)]:
            self.label_names = list(dataset.label_names)

    def encoding_key(self, examples: Sequence[TextExample]) -> str:
        return text_digest(
            [(e.text_a, e.text_b, e.label) for e in examples], self.max_seq_len, len(self.tokenizer)
        )  # type: ignore[misc]

    def encode_examples(self, examples: Sequence[TextExample], *, split: str) -> EncodedSplit:
        import numpy as np

        labels = np.zeros((len(examples), self.num_classes), dtype=np.float32)
        for i, e in enumerate(examples):
            ok = isinstance(e.label, tuple) and all(
                isinstance(c, int) and 0 <= c < self.num_classes for c in e.label
            )
            if not ok:
                raise ConfigError(
                    f"{split}[{i}].label",
                    f"{e.label!r} is not a tuple of label indices in [0, {self.num_classes})",
                )
            labels[i, list(e.label)] = 1.0  # type: ignore[arg-type]
        texts_b = [e.text_b for e in examples] if any(e.text_b is not None for e in examples) else None
        return encode_texts(
            self.tokenizer, [e.text_a for e in examples], self.max_seq_len, texts_b=texts_b, labels=labels
        )

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(outputs.float(), labels.float())

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        import numpy as np

        from finehub.finetune.tasks._metrics import auc, f1_scores

        probs = outputs.float().sigmoid().cpu().numpy()
        per_label = {n: auc(labels[:, c], probs[:, c]) for c, n in enumerate(self.label_names)}
        defined = [v for v in per_label.values() if not np.isnan(v)]
        micro, macro = f1_scores(labels, probs >= self.threshold)
        values = {"auc": float(np.mean(defined)) if defined else 0.5, "micro_f1": micro, "macro_f1": macro}
        metrics: dict[str, Any] = {n: values[n] for n in self.metrics}
        metrics["label_auc"] = {n: (None if np.isnan(v) else v) for n, v in per_label.items()}
        return metrics

    def predict(
        self, texts: Sequence[str | Sequence[str]], *, threshold: float | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """``[{"labels": [...], "probabilities": {label: p}}]`` from the current weights."""
        import numpy as np

        from finehub.modules.text_classifier import check_texts
        from finehub.modules.text_tasks import multilabel_results, run_batches, sigmoid, text_batches

        items = check_texts(texts)
        batches = text_batches(self.tokenizer, items, max_seq_len=self.max_seq_len, batch_size=batch_size)
        probs = sigmoid(np.stack(run_batches(self.model, batches, len(items))))
        return multilabel_results(probs, self.label_names, self.threshold if threshold is None else threshold)

    def export_files(self, folder: Path) -> dict[str, Any]:
        from finehub.modules.text_tasks import MultiLabelTextClassifier

        config = self.export_encoder(folder)
        info = MultiLabelTextClassifier.info
        return {
            "entry": info.entry,
            "task": info.task,
            "tags": ["text", "classification", "multilabel"],
            "inputs": dict(info.inputs),
            "outputs": dict(info.outputs),
            "config": {**config, "label_names": list(self.label_names), "threshold": self.threshold},
        }


MultiLabelClassifierTask = MultiLabelClassificationTask  # PaddleHub's name
