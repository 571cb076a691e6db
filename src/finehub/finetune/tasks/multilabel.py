"""Multi-label text classification: any number of labels per text, one sigmoid per label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit
from finehub.finetune.kinds import OnnxSpec, task_kind, text_settings
from finehub.finetune.tasks._text_base import (
    PooledTextTask,
    check_label_names,
    check_num_classes,
    encoder_options,
)
from finehub.finetune.tasks.base import adopt_label_names
from finehub.finetune.validation import check_number

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

MULTILABEL_METRICS = ("auc", "micro_f1", "macro_f1")


def _micro_f1(
    results: Sequence[dict[str, Any]], examples: Sequence[Any], label_names: Sequence[str]
) -> tuple[str, float]:
    import numpy as np

    from finehub.finetune.metrics import f1_scores

    truth = np.zeros((len(examples), len(label_names)), dtype=bool)
    pred = np.zeros_like(truth)
    for i, (r, e) in enumerate(zip(results, examples, strict=True)):
        truth[i, list(e.label)] = True
        pred[i, [label_names.index(n) for n in r["labels"]]] = True
    return "micro_f1", f1_scores(truth, pred)[0]


@task_kind(
    "multilabel-classification",
    names=("MultiLabelClassificationTask", "MultiLabelClassifierTask"),
    module="finehub.modules.text_tasks:MultiLabelTextClassifier",
    tags=("text", "classification", "multilabel"),
    onnx=OnnxSpec(
        settings=text_settings("label_names", "threshold"),
        answer=lambda r: tuple(r["labels"]),
        score=_micro_f1,
    ),
)
class MultiLabelClassificationTask(PooledTextTask):
    """Pooled encoder output -> dropout -> linear layer -> ``num_classes`` independent sigmoids,
    trained with binary cross-entropy. A label is predicted when its probability reaches
    ``threshold``. Metrics: ``auc`` (mean over labels of the per-label ROC AUC, labels with a
    single class in the split left out), ``micro_f1`` and ``macro_f1`` at ``threshold``.
    Examples carry a tuple of label indices (``Dataset(task="multilabel")``).
    ``head_hidden_size`` and ``cache_features``: see :class:`PooledTextTask`.
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
        head_hidden_size: int = 0,
        cache_features: bool = False,
    ) -> None:
        from finehub.nn.heads import TextClassifierNet

        super().__init__(module, **encoder_options(locals()))
        self.num_classes = check_num_classes(num_classes, minimum=1)
        self.label_names = check_label_names(label_names, num_classes)
        self.threshold = float(check_number("threshold", threshold, gt=0, lt=1))
        self.model = self.pooled_net(
            TextClassifierNet, num_classes, head_hidden_size=head_hidden_size, cache_features=cache_features
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
        adopt_label_names(self, dataset)
        self.adopt_feature_statistics(dataset)

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
        return self.encode_text_examples(examples, labels)

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(outputs.float(), labels.float())

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        import numpy as np

        from finehub.finetune.metrics import auc, f1_scores

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
        from finehub.modules.text_tasks import MultiLabelTextClassifier

        config = {"label_names": self.label_names, "threshold": self.threshold}
        return MultiLabelTextClassifier.results(self.rows(texts, batch_size), config, threshold=threshold)

    def export_config(self, folder: Path) -> dict[str, Any]:
        return {
            **self.export_encoder(folder),
            "label_names": list(self.label_names),
            "threshold": self.threshold,
        }


MultiLabelClassifierTask = MultiLabelClassificationTask  # PaddleHub's name
