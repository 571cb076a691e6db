"""Text regression: one real number per text (or text pair), trained with mean squared error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit
from finehub.finetune.kinds import OnnxSpec, task_kind, text_axes, text_settings
from finehub.finetune.tasks._text_base import PooledTextTask, encoder_options

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

REGRESSION_METRICS = ("pearson", "spearman", "rmse")


def _rmse(results: Sequence[dict[str, Any]], examples: Sequence[Any], _: Sequence[str]) -> tuple[str, float]:
    from finehub.finetune.metrics import rmse

    return "rmse", rmse([r["value"] for r in results], [e.label for e in examples])


@task_kind(
    "text-regression",
    names=("regression", "RegressionTask"),
    module="finehub.modules.text_tasks:TextRegressor",
    tags=("text", "regression"),
    onnx=OnnxSpec(
        settings=text_settings(),
        output="value",
        axes=text_axes("value"),
        answer=lambda r: r["value"],
        score=_rmse,
    ),
)
class RegressionTask(PooledTextTask):
    """Pooled encoder output -> dropout -> linear layer -> one number.

    The network predicts in the label's units; internally its head learns the standardised label
    (the train split's mean and standard deviation, fixed when the Trainer binds the dataset and
    saved with the weights), and the loss is the mean squared error of standardised values.
    Metrics: ``pearson``, ``spearman`` (rank) correlation and ``rmse`` (label units; lower is better).
    ``head_hidden_size`` and ``cache_features``: see :class:`PooledTextTask`.
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
        head_hidden_size: int = 0,
        cache_features: bool = False,
    ) -> None:
        from finehub.nn.heads import TextRegressorNet

        super().__init__(module, **encoder_options(locals()))
        self.model = self.pooled_net(
            TextRegressorNet, head_hidden_size=head_hidden_size, cache_features=cache_features
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
        self.adopt_feature_statistics(dataset)

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
        return self.encode_text_examples(examples, labels)

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        scale = self.model.scale
        return F.mse_loss(outputs.float() / scale, labels.float() / scale)

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        from finehub.finetune.metrics import pearson, rmse, spearman

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
        return [{"value": float(v)} for v in self.rows(texts, batch_size)]

    def export_config(self, folder: Path) -> dict[str, Any]:
        return {
            **self.export_encoder(folder),
            "label_mean": float(self.model.shift),
            "label_std": float(self.model.scale),
        }
