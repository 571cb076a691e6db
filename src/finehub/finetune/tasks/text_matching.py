"""Text matching: does text_b go with text_a? Sentence pairs through a shared encoder (bi-encoder).

Each text is encoded on its own, so embeddings can be precomputed and compared at scale (search,
deduplication). Two heads:

- ``"classification"`` (pointwise): logits from ``[u, v, |u - v|, u * v]``, cross-entropy over the
  dataset's classes (e.g. ``["different", "same"]``); metrics ``accuracy``, ``macro_f1`` (+ ``auc``
  for two classes, from the probability of class 1).
- ``"cosine"``: the cosine of the two embeddings, trained by mean squared error towards the
  label (class index 0/1 of a two-class dataset, or a number of a regression dataset, best kept in
  [-1, 1]); metrics ``auc`` and ``accuracy`` (cosine >= 0.5 counts as class 1; two-class data
  only), ``pearson``, ``spearman``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, collate, encode_texts
from finehub.finetune.kinds import SAMPLE_TEXTS, OnnxSpec, task_kind, text_axes, text_settings
from finehub.finetune.tasks._text_base import TextTask, check_label_names, check_num_classes, encoder_options
from finehub.finetune.tasks.base import adopt_label_names, check_class_count
from finehub.finetune.validation import check_choice

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset, TextExample

MATCHING_METRICS = ("accuracy", "macro_f1", "auc", "pearson", "spearman")
DEFAULT_METRICS = {
    "classification": ("accuracy", "macro_f1"),
    "cosine": ("auc", "accuracy", "pearson", "spearman"),
}
COSINE_THRESHOLD = 0.5
PAIR_INPUTS = ("input_ids_a", "attention_mask_a", "input_ids_b", "attention_mask_b")


@dataclass(frozen=True)
class PairSplit:
    """Both sides of every pair, tokenised once, and the labels."""

    a: EncodedSplit
    b: EncodedSplit
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @property
    def lengths(self) -> np.ndarray:
        return self.a.lengths + self.b.lengths


def _answer(result: dict[str, Any]) -> Any:
    return result["similarity"] if "similarity" in result else result["label"]


def _score(
    results: Sequence[dict[str, Any]], examples: Sequence[Any], label_names: Sequence[str]
) -> tuple[str, float]:
    from finehub.finetune.kinds import accuracy_score
    from finehub.finetune.metrics import spearman

    if results and "similarity" in results[0]:
        return "spearman", spearman([r["similarity"] for r in results], [float(e.label) for e in examples])
    return accuracy_score(results, examples, label_names)


@task_kind(
    "text-matching",
    names=("TextMatchingTask",),
    module="finehub.modules.text_tasks:TextMatcher",
    tags=("text", "matching", "similarity"),
    onnx=OnnxSpec(
        settings=text_settings("head", "label_names"),
        output="output",
        inputs=PAIR_INPUTS,
        axes={
            **{n: {0: "batch", 1: f"sequence_{n[-1]}"} for n in PAIR_INPUTS},
            **text_axes("output", inputs=()),
        },
        sample=lambda e: [e.text_a, e.text_b],
        fallback=lambda: [
            [a, b] for a, b in zip(SAMPLE_TEXTS, SAMPLE_TEXTS[1:] + SAMPLE_TEXTS[:1], strict=True)
        ],
        answer=_answer,
        score=_score,
    ),
)
class TextMatchingTask(TextTask):
    """Pairs ``TextExample(text_a, label, text_b)`` scored by a bi-encoder (see the module docstring).

    ``num_classes`` and ``label_names`` apply to the classification head; the cosine head reads a
    two-class dataset's labels as 0/1 targets (or a regression dataset's numbers).
    """

    known_metrics = MATCHING_METRICS

    def __init__(
        self,
        module: Any,
        num_classes: int = 2,
        max_seq_len: int = 128,
        *,
        head: str = "classification",
        label_names: Sequence[str] | None = None,
        pooling: str | None = None,
        dropout: float = 0.1,
        extend_vocab_from: Sequence[TextExample | str] | None = None,
        vocab_min_count: int = 2,
        metrics: Sequence[str] | None = None,
        main_metric: str | None = None,
        seed: int = 0,
    ) -> None:
        from finehub.nn.heads import MATCH_HEADS, SiameseNet

        check_choice("head", head, MATCH_HEADS)
        metrics = tuple(metrics) if metrics is not None else DEFAULT_METRICS[head]
        super().__init__(module, **encoder_options(locals(), main_metric=main_metric or metrics[0]))
        self.head = head
        self.num_classes = check_num_classes(num_classes, minimum=2)
        self.label_names = check_label_names(label_names, num_classes)
        self.regression = False
        self.model = self.with_head(SiameseNet, head=head, num_classes=num_classes, pooling=self.pooling)

    def __repr__(self) -> str:
        return f"TextMatchingTask(head={self.head!r}, num_classes={self.num_classes}, max_seq_len={self.max_seq_len})"

    def bind(self, dataset: Dataset) -> None:
        if dataset.task == "regression":
            if self.head != "cosine":
                raise ConfigError(
                    "head", f"{dataset.name!r} has numeric labels; use head='cosine' for similarity scores"
                )
            binary_only = [m for m in self.metrics if m in ("auc", "accuracy", "macro_f1")]
            if binary_only:
                raise ConfigError(
                    "metrics",
                    f"{binary_only} need class labels; with numeric labels use "
                    "metrics=['pearson', 'spearman'], main_metric='spearman'",
                )
            self.regression = True
            return
        check_class_count(self, dataset)
        if self.head == "cosine" and self.num_classes != 2:
            raise ConfigError(
                "head", "the cosine head needs two classes (0: no match, 1: match) or numeric labels"
            )
        adopt_label_names(self, dataset)

    def encode_examples(self, examples: Sequence[TextExample], *, split: str) -> PairSplit:  # type: ignore[override]
        import numpy as np

        for i, e in enumerate(examples):
            if not e.text_b:
                raise ConfigError(
                    f"{split}[{i}].text_b", "text matching needs pairs: TextExample(text_a, label, text_b)"
                )
            numeric = isinstance(e.label, (int, float)) and not isinstance(e.label, bool)
            if not numeric or (not self.regression and not 0 <= e.label < self.num_classes):  # type: ignore[operator]
                raise ConfigError(
                    f"{split}[{i}].label",
                    f"{e.label!r} is not a class index in [0, {self.num_classes}) or a number",
                )
        dtype = np.float32 if self.head == "cosine" else np.int64
        labels = np.asarray([e.label for e in examples], dtype=dtype)
        side = [
            encode_texts(self.tokenizer, [getattr(e, f) for e in examples], self.max_seq_len)  # type: ignore[misc]
            for f in ("text_a", "text_b")
        ]
        return PairSplit(side[0], side[1], labels)

    def collate(self, split: PairSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:  # type: ignore[override]
        import torch

        batch = {}
        for name, side in (("a", split.a), ("b", split.b)):
            enc = collate(side, indices, self.pad_id)
            batch[f"input_ids_{name}"], batch[f"attention_mask_{name}"] = (
                enc["input_ids"],
                enc["attention_mask"],
            )
        batch["labels"] = torch.from_numpy(split.labels[indices])
        return batch

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if self.head == "cosine":
            return F.mse_loss(outputs.float(), labels.float())
        return F.cross_entropy(outputs.float(), labels)

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        from finehub.finetune.metrics import auc, classification_metrics, pearson, spearman

        if self.head == "cosine":
            scores = outputs.float().cpu().numpy()
            preds = (scores >= COSINE_THRESHOLD).astype("int64")
        else:
            probs = outputs.float().softmax(-1).cpu().numpy()
            preds, scores = probs.argmax(-1), probs[:, -1]
        values: dict[str, float] = {"pearson": pearson(scores, labels), "spearman": spearman(scores, labels)}
        if not self.regression:
            values.update(
                classification_metrics(
                    labels.astype("int64"), preds, self.num_classes, ("accuracy", "macro_f1")
                )
            )
            values["auc"] = auc(labels, scores) if self.num_classes == 2 else float("nan")
        return {n: values[n] for n in self.metrics}

    def predict(self, pairs: Sequence[Sequence[str]], *, batch_size: int = 32) -> list[dict[str, Any]]:
        """Per pair ``{"similarity"}`` (cosine head) or ``{"label", "score", "probabilities"}``."""
        from finehub.modules.finetuned import run_batches
        from finehub.modules.text_tasks import check_pairs, match_results, pair_batches

        items = check_pairs(pairs)
        batches = pair_batches(self.tokenizer, items, max_seq_len=self.max_seq_len, batch_size=batch_size)
        return match_results(run_batches(self.model, batches, len(items)), self._head_config())

    def _head_config(self) -> dict[str, Any]:
        return {"head": self.head, "label_names": [] if self.regression else list(self.label_names)}

    def export_config(self, folder: Path) -> dict[str, Any]:
        return {**self.export_encoder(folder), **self._head_config()}
