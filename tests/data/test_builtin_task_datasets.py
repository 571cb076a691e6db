"""The built-in datasets for the tasks beyond single-label text classification."""

from __future__ import annotations

from collections import Counter

import finehub as hub
import finehub.data.builtin.bbc_news_tasks  # noqa: F401  (registers the datasets below)
import finehub.data.builtin.peoples_daily_ner as pd
from finehub.data.builtin.bbc_news_tasks import LONG_WORDS, MONEY, digit_share
from finehub.data.examples_extra import TokenExample


def test_peoples_daily_tags_persons_places_organisations() -> None:
    (sentence,) = pd._sentences(
        "中共中央/nt  总书记/n  江/nr  泽民/nr  访问/v  北京/ns  上海/ns  。/w", "x", 1
    )
    chars, tags = pd._bio(sentence)
    assert "".join(chars) == "中共中央总书记江泽民访问北京上海。"
    assert tags == [
        "B-ORG",
        "I-ORG",
        "I-ORG",
        "I-ORG",
        "O",
        "O",
        "O",
        "B-PER",
        "I-PER",
        "I-PER",
        "O",
        "O",
        "B-LOC",
        "I-LOC",
        "B-LOC",
        "I-LOC",
        "O",
    ]  # surname + given name: one person; places stay apart
    assert len(list(pd._sentences("甲/n  。/w  乙/n  ！/w  丙/n", "x", 1))) == 3


def test_peoples_daily_ner_dataset() -> None:
    ds = hub.datasets.load("peoples-daily-ner")
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 35032, "dev": 4379, "test": 4379}
    assert ds.label_names == pd.TAG_NAMES
    assert all(isinstance(e, TokenExample) and len(e.tokens) == len(e.tags) for e in ds.dev)
    begins = Counter(ds.label_names[t] for split in ds.splits.values() for e in split for t in e.tags)
    assert (begins["B-PER"], begins["B-LOC"], begins["B-ORG"]) == (19371, 27808, 3398)
    seen = [e.tokens for split in ds.splits.values() for e in split]
    assert len(seen) == len(set(seen))  # repeats kept once, so no sentence is in two splits


def test_bbc_news_multilabel_and_numeric_follow_their_definitions() -> None:
    news = hub.datasets.load("bbc-news")
    multi = hub.datasets.load("bbc-news-multilabel")
    assert multi.task == "multilabel" and multi.label_names == [*news.label_names, "money", "long"]
    for plain, derived in zip(news.test, multi.test, strict=True):
        expected = {plain.label}
        if MONEY.search(plain.text_a):
            expected.add(5)
        if len(plain.text_a.split()) > LONG_WORDS:
            expected.add(6)
        assert derived.text_a == plain.text_a and set(derived.label) == expected
    numeric = hub.datasets.load("bbc-news-numeric")
    assert numeric.task == "regression" and [e.text_a for e in numeric.dev] == [e.text_a for e in news.dev]
    assert digit_share("Profits of £3bn in 2004 rose") == round(100 * 2 / 6, 3)
