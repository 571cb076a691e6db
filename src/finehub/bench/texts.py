"""The real texts the benchmarks run on, chosen the same way on every machine."""

from __future__ import annotations

import random
import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def bbc_sentences(n: int, *, seed: int = 0, min_words: int = 5) -> list[str]:
    """``n`` sentences of at least ``min_words`` words, sampled from the bbc-news train split."""
    from finehub.data.datasets import load

    train = load("bbc-news", split="train")
    sentences = [
        s.strip() for ex in train for s in _SENTENCE_END.split(ex.text_a) if len(s.split()) >= min_words
    ]
    return random.Random(seed).sample(sentences, n)
