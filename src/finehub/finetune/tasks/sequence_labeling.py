"""Sequence labelling (token classification): one tag per token, e.g. named entities in IOB2/BIOES.

Tokens are given already split (words, or characters for Chinese). The tokenizer may cut a
token into sub-tokens: the first carries the token's tag, the others are ignored by the loss
(label -100). A SentencePiece tokenizer (XLM-R, multilingual E5) starts a word it has no
``▁word`` piece for, e.g. each Chinese character, with a bare ``▁``: that piece is dropped, so
the tag sits on the character's own piece. ``max_seq_len`` bounds the tokenizer's output before
the drop, hence such a tokenizer holds ``max_seq_len / 2 - 1`` Chinese characters. With
``crf=True`` a linear-chain CRF on top scores whole tag sequences and decoding is Viterbi.
Metrics are entity-level (type and both ends must match), micro-averaged; tokens cut off by
``max_seq_len`` count as predicted ``O``, so truncation costs recall honestly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.collate import PAD_MULTIPLE, EncodedSplit, collate, text_digest
from finehub.finetune.kinds import SAMPLE_TEXTS, OnnxSpec, task_kind, text_axes, text_settings
from finehub.finetune.tasks._text_base import TextTask, check_label_names, check_num_classes, encoder_options
from finehub.finetune.tasks.base import bind_examples
from finehub.finetune.validation import check_bool

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset
    from finehub.data.examples_extra import TokenExample

SEQUENCE_METRICS = ("f1", "precision", "recall")
IGNORE = -100


def _settings(module: Any) -> dict[str, Any]:
    crf = module.net.crf
    scores = (
        None
        if crf is None
        else {k: getattr(crf, k).detach().cpu().tolist() for k in ("start", "end", "transitions")}
    )
    # bare_marker: the piece the runtime drops as training did (absent from older exports: none)
    return {
        **text_settings("tag_names", "char_level")(module),
        "crf": scores,
        "bare_marker": module.config.get("bare_marker"),
    }


def _entity_f1(
    results: Sequence[dict[str, Any]], examples: Sequence[Any], label_names: Sequence[str]
) -> tuple[str, float]:
    from finehub.finetune.metrics import entity_scores

    true = [[label_names[t] for t in e.tags] for e in examples]
    return "f1", entity_scores(true, [r["tags"] for r in results])["micro"]["f1"]


@task_kind(
    "sequence-labeling",
    names=("SequenceLabelingTask", "SequenceLabelTask"),
    module="finehub.modules.text_tasks:SequenceLabeler",
    tags=("text", "sequence-labeling", "ner"),
    onnx=OnnxSpec(
        settings=_settings,
        output="scores",
        axes=text_axes("scores", "batch", "sequence"),
        sample=lambda e: list(e.tokens),
        fallback=lambda: [list(t) if not t.isascii() else t.split() for t in SAMPLE_TEXTS],
        answer=lambda r: tuple(r["tags"]),
        score=_entity_f1,
    ),
)
class SequenceLabelingTask(TextTask):
    """Encoder token states -> dropout -> linear layer -> ``num_classes`` tag scores per token
    (+ optional CRF). ``label_names`` are the tags (``["O", "B-PER", "I-PER", ...]``; taken from
    the dataset when not given). ``char_level`` says how ``predict`` splits a raw string: into
    characters or on whitespace (default: characters when every training token is one character).

    Encoded labels are an object array with, per example, an L×2 int32 array of (tag, position of
    the token's first sub-token or -1 when the token was cut off or produced no sub-token).
    """

    known_metrics = SEQUENCE_METRICS

    def __init__(
        self,
        module: Any,
        num_classes: int,
        max_seq_len: int = 128,
        *,
        label_names: Sequence[str] | None = None,
        crf: bool = False,
        char_level: bool | None = None,
        dropout: float = 0.1,
        extend_vocab_from: Sequence[TokenExample | str] | None = None,
        vocab_min_count: int = 2,
        metrics: Sequence[str] = SEQUENCE_METRICS,
        main_metric: str = "f1",
        seed: int = 0,
    ) -> None:
        from finehub.modules.text_tasks import bare_marker
        from finehub.nn.heads import TokenTaggerNet

        super().__init__(module, **encoder_options(locals()))
        self.bare_marker = bare_marker(self.tokenizer)
        self.num_classes = check_num_classes(num_classes, minimum=2)
        self.label_names = check_label_names(label_names, num_classes)
        self.crf = check_bool("crf", crf)
        self.char_level = None if char_level is None else check_bool("char_level", char_level)
        # every batch's scores are padded to one width, so the Trainer can concatenate them
        self.width = -(-max_seq_len // PAD_MULTIPLE) * PAD_MULTIPLE
        self.model = self.with_head(TokenTaggerNet, num_classes, crf=crf, pad_to=self.width)

    def __repr__(self) -> str:
        return (
            f"SequenceLabelingTask(num_classes={self.num_classes}, max_seq_len={self.max_seq_len}, crf={self.crf}, "
            f"added_tokens={len(self.added_tokens)})"
        )

    @property
    def outside(self) -> int:
        """The index of tag ``O`` (what a cut-off token is predicted as)."""
        return self.label_names.index("O") if "O" in self.label_names else 0

    def bind(self, dataset: Dataset) -> None:
        from finehub.data.examples_extra import TokenExample

        bind_examples(
            self,
            dataset,
            TokenExample,
            "TokenExample(tokens, tags) examples; sequence labelling needs one tag per token "
            "(e.g. hub.datasets.load('peoples-daily-ner'))",
            unit="tags",
        )
        if self.char_level is None:
            self.char_level = all(len(t) == 1 for e in dataset.train for t in e.tokens)

    def encoding_key(self, examples: Sequence[TokenExample]) -> str:  # type: ignore[override]
        return text_digest([(e.tokens, e.tags) for e in examples], self.max_seq_len, len(self.tokenizer))  # type: ignore[misc]

    def encode_examples(self, examples: Sequence[TokenExample], *, split: str) -> EncodedSplit:  # type: ignore[override]
        import numpy as np

        from finehub.modules.text_tasks import first_subtokens, tagging_ids

        for i, e in enumerate(examples):
            if not e.tokens or e.tags is None or len(e.tags) != len(e.tokens):
                raise ConfigError(f"{split}[{i}]", "needs at least one token and exactly one tag per token")
            if any(not 0 <= t < self.num_classes for t in e.tags):
                raise ConfigError(f"{split}[{i}].tags", f"tag indices must be in [0, {self.num_classes})")
        ids: list[list[int]] = []
        labels = np.empty(len(examples), dtype=object)
        for start in range(0, len(examples), 4096):
            chunk = examples[start : start + 4096]
            chunk_ids, chunk_words = tagging_ids(
                self.tokenizer,
                [e.tokens for e in chunk],
                max_seq_len=self.max_seq_len,
                marker=self.bare_marker,
            )
            for k, e in enumerate(chunk):
                positions = np.full(len(e.tokens), -1, dtype=np.int32)
                word_ids = chunk_words[k]
                for pos in first_subtokens(word_ids):
                    positions[word_ids[pos]] = pos
                labels[start + k] = np.stack([np.asarray(e.tags, dtype=np.int32), positions], axis=1)
            ids.extend(chunk_ids)
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in ids], out=offsets[1:])
        flat = np.fromiter((t for seq in ids for t in seq), dtype=np.int64, count=int(offsets[-1]))
        return EncodedSplit(flat, offsets, None, labels)

    def collate(self, split: EncodedSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Padded inputs, and labels ``width`` wide: each token's tag at its first sub-token, -100 elsewhere."""
        import numpy as np
        import torch

        batch = collate(dataclasses.replace(split, labels=None), indices, self.pad_id)
        labels = np.full((len(indices), self.width), IGNORE, dtype=np.int64)
        for row, i in enumerate(indices):
            tags, pos = split.labels[i][:, 0], split.labels[i][:, 1]  # type: ignore[index]
            kept = pos >= 0
            labels[row, pos[kept]] = tags[kept]
        batch["labels"] = torch.from_numpy(labels)
        return batch

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        from finehub.nn.crf import compact

        outputs = outputs.float()
        if self.model.crf is None:
            return F.cross_entropy(
                outputs.reshape(-1, outputs.shape[-1]), labels.reshape(-1), ignore_index=IGNORE
            )
        keep = labels != IGNORE
        emissions, mask = compact(outputs, keep)
        tags, _ = compact(labels, keep)
        return self.model.crf.nll(emissions, tags, mask).sum() / keep.sum().clamp(min=1)

    def decode(self, outputs: torch.Tensor, positions: Sequence[np.ndarray]) -> list[list[int]]:
        """Predicted tag per token, given the scores of each example and its tokens' positions."""
        import torch

        from finehub.nn.crf import compact

        preds: list[list[int]] = []
        for start in range(0, len(positions), 256):
            pos = positions[start : start + 256]
            scores = outputs[start : start + len(pos)].float()
            keep = torch.zeros(scores.shape[:2], dtype=torch.bool)
            for row, p in enumerate(pos):
                keep[row, torch.from_numpy(p[p >= 0].astype("int64"))] = True
            if self.model.crf is None:
                packed, mask = compact(scores.argmax(-1), keep)
                found = [packed[r, : int(mask[r].sum())].tolist() for r in range(len(pos))]
            else:
                emissions, mask = compact(scores, keep)
                found = self.model.crf.decode(emissions, mask)
            for p, tags in zip(pos, found, strict=True):
                full = [self.outside] * len(p)
                for j, tag in zip((p >= 0).nonzero()[0], tags, strict=True):
                    full[j] = tag
                preds.append(full)
        return preds

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        from finehub.finetune.metrics import entity_scores

        preds = self.decode(outputs, [lab[:, 1] for lab in labels])
        names = self.label_names
        true_tags = [[names[t] for t in lab[:, 0]] for lab in labels]
        pred_tags = [[names[t] for t in p] for p in preds]
        scores = entity_scores(true_tags, pred_tags)
        metrics: dict[str, Any] = {n: scores["micro"][n] for n in self.metrics}
        metrics["per_type"] = {k: v for k, v in scores.items() if k != "micro"}
        return metrics

    def predict(self, texts: Sequence[str | Sequence[str]], *, batch_size: int = 32) -> list[dict[str, Any]]:
        """``[{"tokens", "tags", "entities": [{"type", "text", "start", "end"}]}]`` from the current weights."""
        from finehub.modules.text_tasks import check_token_inputs, predict_tags, tagging_results

        tokens = check_token_inputs(texts, char_level=bool(self.char_level))
        ids = predict_tags(
            self.model,
            self.tokenizer,
            tokens,
            max_seq_len=self.max_seq_len,
            batch_size=batch_size,
            marker=self.bare_marker,
        )
        return tagging_results(tokens, ids, self.label_names)

    def export_config(self, folder: Path) -> dict[str, Any]:
        return {
            **self.export_encoder(folder),
            "tag_names": list(self.label_names),
            "crf": self.crf,
            "char_level": bool(self.char_level),
            "bare_marker": self.bare_marker,
        }


SequenceLabelTask = SequenceLabelingTask  # PaddleHub's name
