"""The module class a fine-tuned text classifier loads as, from its exported folder (layout in
:mod:`finehub.modules.finetuned`; ``config`` holds num_classes and label_names beside the encoder's
settings and the provenance: base module, dataset, metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import moduleinfo, runnable, serving
from finehub.modules._common import BatchSize, TextData, UseGpu, honour_use_gpu, paddle_texts
from finehub.modules.finetuned import (
    FinetunedTextModule,
    check_texts,
    format_predictions,
    pooled_net_options,
    softmax,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

_NEGATIVE = ("negative", "neg", "0")  # label spellings sentiment_classify reads as senta's classes
_POSITIVE = ("positive", "pos", "1")


@moduleinfo(
    name="text-classifier",
    version="1.0.0",
    task="text-classification",
    summary="A text classifier fine-tuned with finehub, loaded from its exported folder.",
    inputs={"texts": "list of texts, or of [text_a, text_b] pairs"},
    outputs={
        "classify": "per text {label, score, probabilities: label -> probability}",
        "sentiment_classify": "PaddleHub senta's shape: per text {text, sentiment_label, sentiment_key, "
        "positive_probs, negative_probs}",
    },
)
class TextClassifier(FinetunedTextModule):
    """Generic class of exported classifiers; each instance takes its metadata from ``module.json``."""

    config_keys = ("num_classes", "label_names")

    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        from finehub.nn.heads import TextClassifierNet

        return TextClassifierNet(
            encoder, config["hidden_size"], config["num_classes"], **pooled_net_options(config)
        )

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to_device(self, device: str) -> None:
        """Move the network (PaddleHub's ``use_gpu=True`` calls this with "cuda")."""
        self.net.to(device)

    @runnable
    @serving(batch="texts")
    def classify(
        self,
        texts: list[str] | None = None,
        top_k: int | None = None,
        batch_size: BatchSize = 32,
        *,
        data: TextData = None,
        use_gpu: UseGpu = False,
    ) -> list[dict[str, Any]]:
        """Label, score and probabilities for each text."""
        inputs = check_texts(paddle_texts(texts, data))
        honour_use_gpu(self, use_gpu)
        return self.results(self.rows(inputs, batch_size), self.config, top_k=top_k)

    @serving(batch="texts")
    def sentiment_classify(
        self,
        texts: list[str] | None = None,
        data: TextData = None,
        use_gpu: UseGpu = False,
        batch_size: BatchSize = 1,
    ) -> list[dict[str, Any]]:
        """PaddleHub's senta call and result: per text ``{"text", "sentiment_label" (1 positive, 0
        negative), "sentiment_key", "positive_probs", "negative_probs"}``. Needs a two-class
        classifier whose labels are negative/positive (or neg/pos, 0/1)."""
        negative, positive = self._sentiment_columns()
        inputs = check_texts(paddle_texts(texts, data))
        honour_use_gpu(self, use_gpu)
        out = []
        for text, row in zip(inputs, softmax(self.rows(inputs, batch_size)), strict=True):
            pos, neg = float(row[positive]), float(row[negative])
            out.append(
                {
                    "text": text if isinstance(text, str) else list(text),
                    "sentiment_label": int(pos >= neg),
                    "sentiment_key": "positive" if pos >= neg else "negative",
                    "positive_probs": round(pos, 4),
                    "negative_probs": round(neg, 4),
                }
            )
        return out

    def _sentiment_columns(self) -> tuple[int, int]:
        """(negative, positive) class indices, from the label names."""
        names = [str(n).strip().lower() for n in self.label_names]
        found = [
            next((i for i, n in enumerate(names) if n in spellings), None)
            for spellings in (_NEGATIVE, _POSITIVE)
        ]
        if len(names) != 2 or None in found:
            raise ModuleInputError(
                "sentiment_classify",
                f"{self.name} has labels {self.label_names}, not negative/positive; use classify",
            )
        return found[0], found[1]  # type: ignore[return-value]

    @staticmethod
    def results(
        rows: np.ndarray, config: dict[str, Any], *, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        """Result dicts of the network's logits."""
        return format_predictions(softmax(rows), config["label_names"], top_k)

    @classmethod
    def onnx_predict(
        cls, runtime: Any, inputs: Sequence[Any], batch_size: int, *, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        return cls.results(cls.onnx_rows(runtime, check_texts(inputs), batch_size), runtime.spec, top_k=top_k)
