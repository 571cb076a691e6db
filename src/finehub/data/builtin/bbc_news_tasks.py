"""Three datasets derived from ``bbc-news`` for the other fine-tuning tasks.

Each keeps ``bbc-news``'s train/dev/test articles (same ``seed``, same split), so no article of a
dev or test split was seen in training. Derived labels are computed from the whole article;
a model reading only its opening tokens has to estimate them.

- ``bbc-news-multilabel``: the article's topic plus two flags, ``money`` (it writes an amount
  as £, $ or € followed by a digit; 35% of articles) and ``long`` (more than
  :data:`LONG_WORDS` words, the corpus median). Two or three labels per article.
- ``bbc-news-numeric`` (regression): the percentage of the article's words that contain a digit
  (scores, prices, dates, statistics); mean 2.2, standard deviation 1.8, range 0-12.2.
- ``bbc-news-pairs`` (text matching): every article is paired with another article of the same
  split, of the same topic for half the articles and of another topic for the other half;
  labels ``["different", "same"]``.
"""

from __future__ import annotations

import random
import re

from finehub.data.dataset import Dataset, TextExample
from finehub.data.registry import load, register_dataset

MONEY = re.compile(r"[£$€]\s?\d")
LONG_WORDS = 331  # median word count of the 2,127 articles


def _topics(seed: int) -> Dataset:
    return load("bbc-news", seed=seed)


@register_dataset("bbc-news-multilabel")
def bbc_news_multilabel(*, seed: int = 0) -> Dataset:
    news = _topics(seed)
    money, long = news.num_classes, news.num_classes + 1

    def labels(ex: TextExample) -> tuple[int, ...]:
        extra = (money,) * bool(MONEY.search(ex.text_a)) + (long,) * (len(ex.text_a.split()) > LONG_WORDS)
        return (ex.label, *extra)  # type: ignore[return-value]

    splits = {s: [TextExample(ex.text_a, labels(ex)) for ex in exs] for s, exs in news.splits.items()}
    return Dataset("bbc-news-multilabel", splits, [*news.label_names, "money", "long"], task="multilabel")


def digit_share(text: str) -> float:
    """Percentage of whitespace-separated words holding at least one digit."""
    words = text.split()
    return round(100 * sum(any(c.isdigit() for c in w) for w in words) / max(len(words), 1), 3)


@register_dataset("bbc-news-numeric")
def bbc_news_numeric(*, seed: int = 0) -> Dataset:
    news = _topics(seed)
    splits = {
        s: [TextExample(ex.text_a, digit_share(ex.text_a)) for ex in exs] for s, exs in news.splits.items()
    }
    return Dataset("bbc-news-numeric", splits, task="regression")


@register_dataset("bbc-news-pairs")
def bbc_news_pairs(*, seed: int = 0) -> Dataset:
    news = _topics(seed)
    splits = {}
    for split, examples in news.splits.items():
        rng = random.Random(f"{seed}/{split}")
        by_topic: dict[int, list[int]] = {}
        for i, ex in enumerate(examples):
            by_topic.setdefault(ex.label, []).append(i)  # type: ignore[arg-type]
        pairs = []
        for i, ex in enumerate(examples):
            same = i % 2 == 0
            pool = (
                by_topic[ex.label] if same else [j for t, js in by_topic.items() if t != ex.label for j in js]
            )  # type: ignore[index]
            j = rng.choice([j for j in pool if j != i])
            pairs.append(TextExample(ex.text_a, int(same), examples[j].text_a))
        splits[split] = pairs
    return Dataset("bbc-news-pairs", splits, ["different", "same"])
