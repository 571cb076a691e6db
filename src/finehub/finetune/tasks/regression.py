"""Text regression: one real number per text (or text pair), trained with mean squared error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, encode_texts, text_digest
from finehub.finetune.tasks._text_base import TextTask

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

REGRESSION_METRICS = ("pearson", "spearman", "rmse")


class RegressionTask(TextTask):
    """Pooled encoder output -> dropout -> linear layer -> one number.

    The network predicts in the label's units; internally its head learns the standardised label
    (the train split's mean and standard deviation, fixed when the Trainer binds the dataset and
    saved with the weights), and the loss is the mean squared error of standardised values.
    Metrics: ``pearson``, ``spearman`` (rank) correlation and ``rmse`` (label units; lower is better).
    """

    known_metrics = REGRESSION_METRICS

    def __init__(
        self,
        module: Any,
        max_seq_len: int = 128,
        *,
        pooling: str | None = None,
        dropout: float = 0.1,
        extend_vocab_from: Sequence[TextExample | str] | None = None,
        vocab_min_count: int = 2,
        metrics: Sequence[str] = REGRESSION_METRICS,
        main_metric: str = "pearson",
        seed: int = 0,
    ) -> None:
        from finehub.modules.text_tasks.network import TextRegressorNet

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
        self.model = self.seeded(
            lambda: TextRegressorNet(
                self.backbone.model, self.backbone.hidden_size, pooling=self.pooling, dropout=self.dropout
            )
        )

    def __repr__(self) -> str:
        return (
            f"RegressionTask(max_seq_len={self.max_seq_len}, pooling={self.pooling!r}, "
            f"label mean={float(self.model.shift):.4g}, std={float(self.model.scale):.4g})"
        )

    def bind(self, dataset: Dataset) -> None:
        """Adopt the train split's label mean and standard deviation as the output scale."""
        import torch

        if dataset.task != "regression":
            raise ConfigError(
                "dataset",
                f"{dataset.name!r} is a {dataset.task} dataset; regression needs numeric "
                "labels (load it with task='regression')",
            )
        labels = [float(e.label) for e in dataset.train]  # type: ignore[arg-type]
        mean = sum(labels) / len(labels)
        std = math.sqrt(sum((x - mean) ** 2 for x in labels) / len(labels)) or 1.0
        with torch.no_grad():
            self.model.shift.fill_(mean)
            self.model.scale.fill_(std)

    def encoding_key(self, examples: Sequence[TextExample]) -> str:
        return text_digest(
            [(e.text_a, e.text_b, e.label) for e in examples], self.max_seq_len, len(self.tokenizer)
        )  # type: ignore[misc]

    def encode_examples(self, examples: Sequence[TextExample], *, split: str) -> EncodedSplit:
        import numpy as np

        bad = next(
            (
                i
                for i, e in enumerate(examples)
                if not isinstance(e.label, (int, float))
                or isinstance(e.label, bool)
                or not math.isfinite(e.label)
            ),
            None,
        )
        if bad is not None:
            raise ConfigError(f"{split}[{bad}].label", f"{examples[bad].label!r} is not a finite number")
        labels = np.fromiter((float(e.label) for e in examples), dtype=np.float32, count=len(examples))  # type: ignore[arg-type]
        texts_b = [e.text_b for e in examples] if any(e.text_b is not None for e in examples) else None
        return encode_texts(
            self.tokenizer, [e.text_a for e in examples], self.max_seq_len, texts_b=texts_b, labels=labels
        )

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        scale = self.model.scale
        return F.mse_loss(outputs.float() / scale, labels.float() / scale)

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        from finehub.finetune.tasks._metrics import pearson, rmse, spearman

        preds = outputs.float().cpu().numpy()
        values = {
            "pearson": pearson(preds, labels),
            "spearman": spearman(preds, labels),
            "rmse": rmse(preds, labels),
        }
        return {n: values[n] for n in self.metrics}

    def predict(
        self, texts: Sequence[str | Sequence[str]], *, batch_size: int = 32
    ) -> list[dict[str, float]]:
        """``[{"value": x}]`` from the current weights."""
        from finehub.modules.text_classifier import check_texts
        from finehub.modules.text_tasks import run_batches, text_batches

        items = check_texts(texts)
        batches = text_batches(self.tokenizer, items, max_seq_len=self.max_seq_len, batch_size=batch_size)
        return [{"value": float(v)} for v in run_batches(self.model, batches, len(items))]

    def export_files(self, folder: Path) -> dict[str, Any]:
        from finehub.modules.text_tasks import TextRegressor

        info = TextRegressor.info
        return {
            "entry": info.entry,
            "task": info.task,
            "tags": ["text", "regression"],
            "inputs": dict(info.inputs),
            "outputs": dict(info.outputs),
            "config": {
                **self.export_encoder(folder),
                "label_mean": float(self.model.shift),
                "label_std": float(self.model.scale),
            },
        }
