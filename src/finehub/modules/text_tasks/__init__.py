"""Module classes of fine-tuned text models beyond single-label classification: multi-label
classifier, regressor, sequence labeller, text matcher. Each loads from a folder that
``finehub.finetune`` exported (layout in :mod:`finehub.modules.finetuned`). The helpers here
(token inputs, pair batches, result dicts) are what the fine-tuning tasks' ``predict`` use too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import moduleinfo, runnable, serving
from finehub.modules._common import check_batch_size
from finehub.modules.finetuned import (
    FinetunedTextModule,
    check_texts,
    format_predictions,
    pooled_net_options,
    run_batches,
    sigmoid,
    softmax,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


# --- running texts through a network -------------------------------------------------------------


def check_pairs(pairs: Any) -> list[tuple[str, str]]:
    """Validated text pairs: a non-empty list of [text_a, text_b] (a lone pair is wrapped)."""
    if isinstance(pairs, Sequence) and len(pairs) == 2 and all(isinstance(x, str) for x in pairs):
        pairs = [pairs]
    if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not pairs:
        raise ModuleInputError("pairs", "pass a non-empty list of [text_a, text_b] pairs")
    out = []
    for i, p in enumerate(pairs):
        if not (
            isinstance(p, Sequence)
            and not isinstance(p, str)
            and len(p) == 2
            and all(isinstance(x, str) and x.strip() for x in p)
        ):
            raise ModuleInputError(
                f"pairs[{i}]", f"expected [text_a, text_b] with two non-empty strings, got {p!r}"
            )
        out.append((p[0], p[1]))
    return out


def check_token_inputs(texts: Any, *, char_level: bool) -> list[list[str]]:
    """Token lists for tagging. A string is split into characters (``char_level``) or on
    whitespace; a list (of strings) is taken as already-split tokens."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or not texts:
        raise ModuleInputError("texts", "pass a non-empty list of texts (or of token lists)")
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str) and t.strip():
            out.append([c for c in t if not c.isspace()] if char_level else t.split())
        elif isinstance(t, Sequence) and t and all(isinstance(x, str) and x.strip() for x in t):
            out.append(list(t))
        else:
            raise ModuleInputError(f"texts[{i}]", f"expected a non-empty string or list of tokens, got {t!r}")
    return out


def tagging_batches(
    tokenizer: Any,
    tokens: Sequence[Sequence[str]],
    *,
    max_seq_len: int,
    batch_size: int,
    marker: int | None,
) -> tuple[list[tuple[list[int], dict[str, torch.Tensor]]], list[list[int | None]]]:
    """Tokenised batches of pre-split tokens (bare ``marker`` pieces dropped, see
    :func:`tagging_ids`), and per input the sub-token -> token index map (``None`` for special tokens)."""
    ids, word_ids = tagging_ids(tokenizer, tokens, max_seq_len=max_seq_len, marker=marker)
    order = sorted(range(len(tokens)), key=lambda i: -len(ids[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        padded = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
        batches.append((idx, {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}))
    return batches, word_ids


def tagging_ids(
    tokenizer: Any, tokens: Sequence[Sequence[str]], *, max_seq_len: int, marker: int | None
) -> tuple[list[list[int]], list[list[int | None]]]:
    """Sub-token ids of pre-split tokens (cut at ``max_seq_len`` by the tokenizer, before bare
    markers are dropped) and each input's sub-token -> token index map."""
    enc = tokenizer(
        [list(t) for t in tokens], is_split_into_words=True, truncation=True, max_length=max_seq_len
    )
    rows = [without_bare_markers(enc["input_ids"][i], enc.word_ids(i), marker) for i in range(len(tokens))]
    return [ids for ids, _ in rows], [w for _, w in rows]


def bare_marker(tokenizer: Any) -> int | None:
    """The id of the lone word-start piece that a SentencePiece tokenizer (Metaspace pre-tokenizer:
    XLM-R, multilingual E5) puts before each pre-split word lacking a ``▁word`` piece, e.g. every
    Chinese character; ``None`` for tokenizers without one (WordPiece, characters)."""
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = None if backend is None else backend.pre_tokenizer
    if pre is None:
        return None
    state = json.loads(pre.__getstate__())
    for p in state.get("pretokenizers", [state]):
        prepends = p.get("prepend_scheme", "always" if p.get("add_prefix_space", True) else "never")
        if p.get("type") == "Metaspace" and prepends != "never":
            return backend.token_to_id(p["replacement"])
    return None


def without_bare_markers(
    ids: Sequence[int], word_ids: Sequence[int | None], marker: int | None
) -> tuple[list[int], list[int | None]]:
    """``ids`` and ``word_ids`` without the bare ``marker`` pieces that precede another sub-token
    of the same word: the word's first sub-token, which carries its tag, is then one that holds
    its text (``江`` rather than a content-free ``▁``), and a Chinese sentence is not twice as long."""
    keep = [
        p
        for p, (i, w) in enumerate(zip(ids, word_ids, strict=True))
        if not (i == marker and w is not None and p + 1 < len(ids) and word_ids[p + 1] == w)
    ]
    return [ids[p] for p in keep], [word_ids[p] for p in keep]


def first_subtokens(word_ids: Sequence[int | None]) -> list[int]:
    """Positions of each token's first sub-token, in token order (truncated tokens are absent)."""
    positions, previous = [], None
    for pos, w in enumerate(word_ids):
        if w is not None and w != previous:
            positions.append(pos)
        previous = w
    return positions


def tagging_results(
    tokens: Sequence[Sequence[str]], tag_ids: Sequence[Sequence[int]], tag_names: Sequence[str]
) -> list[dict[str, Any]]:
    """``[{"tokens", "tags", "entities": [{"type", "text", "start", "end"}]}]``; tokens cut off by
    ``max_seq_len`` get tag ``"O"``. ``text`` joins characters directly and words with spaces."""
    from finehub.modules.text_tasks.tagging import spans

    out = []
    for toks, ids in zip(tokens, tag_ids, strict=True):
        tags = [tag_names[i] for i in ids] + ["O"] * (len(toks) - len(ids))
        joiner = "" if all(len(t) == 1 for t in toks) else " "
        entities = [
            {"type": s.type, "text": joiner.join(toks[s.start : s.end]), "start": s.start, "end": s.end}
            for s in spans(tags)
        ]
        out.append({"tokens": list(toks), "tags": tags, "entities": entities})
    return out


def pair_batches(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_seq_len: int, batch_size: int
) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
    """Batches of pairs for a bi-encoder: each side tokenised and padded on its own."""
    order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        inputs = {}
        for side, k in (("a", 0), ("b", 1)):
            enc = tokenizer(
                [pairs[i][k] for i in idx],
                truncation=True,
                max_length=max_seq_len,
                padding=True,
                return_tensors="pt",
            )
            inputs[f"input_ids_{side}"], inputs[f"attention_mask_{side}"] = (
                enc["input_ids"],
                enc["attention_mask"],
            )
        batches.append((idx, inputs))
    return batches


def multilabel_results(
    probs: np.ndarray, label_names: Sequence[str], threshold: float
) -> list[dict[str, Any]]:
    """``[{"labels": [names with p >= threshold], "probabilities": {name: p}}]``."""
    return [
        {
            "labels": [n for n, p in zip(label_names, row, strict=True) if p >= threshold],
            "probabilities": {n: float(p) for n, p in zip(label_names, row, strict=True)},
        }
        for row in probs
    ]


def check_threshold(threshold: Any) -> float:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 < threshold < 1:
        raise ModuleInputError("threshold", f"must be a number in (0, 1), got {threshold!r}")
    return float(threshold)


# --- the module classes --------------------------------------------------------------------------


@moduleinfo(
    name="multilabel-classifier",
    version="1.0.0",
    task="multilabel-classification",
    summary="A multi-label text classifier fine-tuned with finehub, loaded from its exported folder.",
    inputs={"texts": "list of texts, or of [text_a, text_b] pairs"},
    outputs={"labels": "labels with probability >= threshold", "probabilities": "label -> probability"},
)
class MultiLabelTextClassifier(FinetunedTextModule):
    config_keys = ("label_names", "threshold")

    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        from finehub.nn.heads import TextClassifierNet

        return TextClassifierNet(
            encoder, config["hidden_size"], len(config["label_names"]), **pooled_net_options(config)
        )

    @runnable
    @serving(batch="texts")
    def classify(
        self, texts: list[str], threshold: float | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """The labels whose probability reaches ``threshold`` (default: the exported one), and every probability."""
        return self.results(self.rows(check_texts(texts), batch_size), self.config, threshold=threshold)

    @staticmethod
    def results(
        rows: np.ndarray, config: dict[str, Any], *, threshold: float | None = None
    ) -> list[dict[str, Any]]:
        threshold = check_threshold(config["threshold"] if threshold is None else threshold)
        return multilabel_results(sigmoid(rows), config["label_names"], threshold)

    @classmethod
    def onnx_predict(
        cls, runtime: Any, inputs: Sequence[Any], batch_size: int, *, threshold: float | None = None
    ) -> list[dict[str, Any]]:
        threshold = check_threshold(runtime.spec["threshold"] if threshold is None else threshold)
        return cls.results(
            cls.onnx_rows(runtime, check_texts(inputs), batch_size), runtime.spec, threshold=threshold
        )


@moduleinfo(
    name="text-regressor",
    version="1.0.0",
    task="text-regression",
    summary="A text regressor fine-tuned with finehub, loaded from its exported folder.",
    inputs={"texts": "list of texts, or of [text_a, text_b] pairs"},
    outputs={"value": "the predicted number"},
)
class TextRegressor(FinetunedTextModule):
    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        from finehub.nn.heads import TextRegressorNet

        return TextRegressorNet(encoder, config["hidden_size"], **pooled_net_options(config))

    @runnable
    @serving(batch="texts")
    def regress(self, texts: list[str], batch_size: int = 32) -> list[dict[str, float]]:
        """``[{"value": x}]``, one per text."""
        return [{"value": float(v)} for v in self.rows(check_texts(texts), batch_size)]

    @classmethod
    def onnx_predict(cls, runtime: Any, inputs: Sequence[Any], batch_size: int) -> list[dict[str, float]]:
        return [{"value": float(v)} for v in cls.onnx_rows(runtime, check_texts(inputs), batch_size)]


@moduleinfo(
    name="sequence-labeler",
    version="1.0.0",
    task="sequence-labeling",
    summary="A sequence labeller (e.g. named entities) fine-tuned with finehub, loaded from its exported folder.",
    inputs={"texts": "list of texts (split into characters or words as trained), or of token lists"},
    outputs={"tokens": "the tokens", "tags": "one tag per token", "entities": "[{type, text, start, end}]"},
)
class SequenceLabeler(FinetunedTextModule):
    config_keys = ("tag_names", "crf", "char_level")

    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        from finehub.nn.heads import TokenTaggerNet

        return TokenTaggerNet(
            encoder, config["hidden_size"], len(config["tag_names"]), dropout=0.0, crf=config["crf"]
        )

    @runnable
    @serving(batch="texts")
    def tag(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Tags and entities of each text."""
        tokens = check_token_inputs(texts, char_level=self.config["char_level"])
        ids = predict_tags(
            self.net,
            self.tokenizer,
            tokens,
            max_seq_len=self.config["max_seq_len"],
            batch_size=check_batch_size(batch_size),
            marker=self.config.get("bare_marker"),  # absent from folders exported before it existed
        )
        return tagging_results(tokens, ids, self.config["tag_names"])

    @classmethod
    def onnx_feeds(cls, runtime: Any, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        tokens = check_token_inputs(list(inputs), char_level=runtime.spec["char_level"])
        return onnx_tagging_feeds(runtime, tokens)[0]

    @classmethod
    def onnx_predict(cls, runtime: Any, inputs: Sequence[Any], batch_size: int) -> list[dict[str, Any]]:
        import numpy as np

        from finehub.modules.text_tasks.tagging import viterbi

        tokens = check_token_inputs(inputs, char_level=runtime.spec["char_level"])
        crf = runtime.spec.get("crf")

        def crf_decode(rows: np.ndarray) -> list[int]:
            return viterbi(rows, *(np.asarray(crf[k]) for k in ("start", "end", "transitions")))

        def run(batch: Sequence[list[str]]) -> list[list[int]]:
            feeds, word_ids = onnx_tagging_feeds(runtime, batch)
            return token_tags(runtime.raw_outputs(feeds), word_ids, None if crf is None else crf_decode)

        return tagging_results(tokens, runtime.batched(tokens, batch_size, run), runtime.spec["tag_names"])


def onnx_tagging_feeds(
    runtime: Any, tokens: Sequence[Sequence[str]]
) -> tuple[dict[str, np.ndarray], list[list[int | None]]]:
    """The graph's inputs for pre-split tokens, bare markers dropped as in training (the exported
    ``bare_marker``), and each row's sub-token -> token index map."""
    import numpy as np

    marker = runtime.spec.get("bare_marker")  # absent from graphs exported before it existed
    rows = []
    for e in runtime.text_feeds(tokens, pretokenized=True)[1]:
        n = sum(e.attention_mask)  # the batch comes padded: unpad, drop markers, pad again
        rows.append(without_bare_markers(e.ids[:n], e.word_ids[:n], marker))
    input_ids = np.full((len(rows), max(len(ids) for ids, _ in rows)), runtime.spec["pad_id"], dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for r, (ids, _) in enumerate(rows):
        input_ids[r, : len(ids)], mask[r, : len(ids)] = ids, 1
    # one sequence per row: token type 0 throughout
    feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
    return feeds, [w for _, w in rows]


def predict_tags(
    net: nn.Module,
    tokenizer: Any,
    tokens: Sequence[Sequence[str]],
    *,
    max_seq_len: int,
    batch_size: int,
    marker: int | None,
) -> list[list[int]]:
    """Tag indices per token (first sub-token's scores; CRF Viterbi when the network has a CRF)."""
    import torch

    batches, word_ids = tagging_batches(
        tokenizer, tokens, max_seq_len=max_seq_len, batch_size=batch_size, marker=marker
    )

    def crf_decode(rows: np.ndarray) -> list[int]:
        emissions = torch.from_numpy(rows)[None]
        return net.crf.decode(emissions, torch.ones(emissions.shape[:2], dtype=torch.bool))[0]

    scores = run_batches(net, batches, len(tokens))
    return token_tags(scores, word_ids, None if net.crf is None else crf_decode)


def token_tags(
    scores: Iterable[np.ndarray],
    word_ids: Sequence[Sequence[int | None]],
    decode: Callable[[np.ndarray], list[int]] | None,
) -> list[list[int]]:
    """Tag indices per token of each row's sub-token scores, read at each token's first sub-token:
    by ``decode`` (a CRF's Viterbi) where the tagger has a CRF, else the best-scoring tag."""
    out = []
    for row, words in zip(scores, word_ids, strict=True):
        rows = row[first_subtokens(words)]
        out.append(rows.argmax(-1).tolist() if decode is None else decode(rows))
    return out


@moduleinfo(
    name="text-matcher",
    version="1.0.0",
    task="text-matching",
    summary="A text-pair matcher (bi-encoder) fine-tuned with finehub, loaded from its exported folder.",
    inputs={"pairs": "list of [text_a, text_b] pairs"},
    outputs={"classification head": "label, score, probabilities", "cosine head": "similarity in [-1, 1]"},
)
class TextMatcher(FinetunedTextModule):
    config_keys = ("head", "label_names")

    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        from finehub.nn.heads import SiameseNet

        return SiameseNet(
            encoder,
            config["hidden_size"],
            head=config["head"],
            num_classes=max(len(config["label_names"]), 1),
            pooling=config["pooling"],
            dropout=0.0,
        )

    @runnable
    @serving(batch="pairs")
    def match(self, pairs: list[list[str]], batch_size: int = 32) -> list[dict[str, Any]]:
        """Per pair: ``{"similarity"}`` (cosine head) or ``{"label", "score", "probabilities"}``."""
        items = check_pairs(pairs)
        batches = pair_batches(
            self.tokenizer,
            items,
            max_seq_len=self.config["max_seq_len"],
            batch_size=check_batch_size(batch_size),
        )
        return match_results(run_batches(self.net, batches, len(items)), self.config)

    @classmethod
    def onnx_feeds(cls, runtime: Any, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        pairs = check_pairs(list(inputs))
        return {
            **runtime.text_feeds([a for a, _ in pairs], suffix="_a")[0],
            **runtime.text_feeds([b for _, b in pairs], suffix="_b")[0],
        }

    @classmethod
    def onnx_predict(cls, runtime: Any, inputs: Sequence[Any], batch_size: int) -> list[dict[str, Any]]:
        pairs = check_pairs(inputs)

        def run(batch: Sequence[tuple[str, str]]) -> list[Any]:
            return list(runtime.raw_outputs(cls.onnx_feeds(runtime, batch)))

        return match_results(runtime.batched(pairs, batch_size, run), runtime.spec)


def match_results(outputs: Sequence[Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Outputs of a matcher network as result dicts (see :meth:`TextMatcher.match`)."""
    import numpy as np

    if config["head"] == "cosine":
        return [{"similarity": float(v)} for v in outputs]
    return format_predictions(softmax(np.stack(outputs)), config["label_names"])
