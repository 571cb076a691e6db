"""From LAC's per-character tags to words, and the user dictionary that overrides them (plain Python).

LAC tags each character ``<label>-B`` (starts a word) or ``<label>-I`` (continues it); a word's
label is its first character's. A user dictionary names words that must come out whole: each
match in the text (leftmost first; at one position the highest frequency, then the longest)
becomes one word, cutting any model word that overlaps it, and takes the dictionary's tag when one
is given (else the model's label of its first character).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from finehub.errors import DataFormatError

_NUMBER = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class Entry:
    word: str
    tag: str | None = None
    freq: float = 0.0


class UserDict:
    """Words that must come out whole, read from a file of lines ``word [tag] [frequency]``.

    Fields are separated by whitespace (or ``sep``); ``word/tag`` is accepted too (PaddleHub's
    form). Blank lines and lines starting with ``#`` are skipped; a later line for the same word
    replaces an earlier one.
    """

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = {e.word: e for e in entries}
        self.longest = max((len(w) for w in self.entries), default=0)

    @classmethod
    def read(cls, path: str | Path, sep: str | None = None) -> UserDict:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DataFormatError(str(path), f"cannot read the user dictionary as UTF-8 text ({e})") from e
        entries = []
        for number, line in enumerate(lines, start=1):
            fields = line.strip().split(sep)
            if not fields or not fields[0] or fields[0].startswith("#"):
                continue
            word, tag, freq = fields[0], None, 0.0
            if "/" in word.strip("/"):
                word, _, tag = word.rpartition("/")
            for field in fields[1:]:
                if _NUMBER.match(field):
                    freq = float(field)
                elif tag is None and field:
                    tag = field
                elif field:
                    raise DataFormatError(
                        str(path),
                        f"{line!r} has more than one tag; write 'word [tag] [frequency]'",
                        line=number,
                    )
            entries.append(Entry(word, tag, freq))
        if not entries:
            raise DataFormatError(str(path), "no words found; write one 'word [tag] [frequency]' per line")
        return cls(entries)

    def matches(self, text: str) -> list[tuple[int, int, Entry]]:
        """``(start, end, entry)`` of the words found in ``text``, left to right, not overlapping."""
        found = []
        i = 0
        while i < len(text):
            best: Entry | None = None
            for size in range(min(self.longest, len(text) - i), 0, -1):
                entry = self.entries.get(text[i : i + size])
                if entry is not None and (best is None or entry.freq > best.freq):
                    best = entry
            if best is None:
                i += 1
                continue
            found.append((i, i + len(best.word), best))
            i += len(best.word)
        return found


def words_and_tags(
    text: str, char_tags: Sequence[str], user_dict: UserDict | None = None
) -> tuple[list[str], list[str]]:
    """LAC's words and their labels, given one ``<label>-B``/``<label>-I`` tag per character."""
    labels = [tag.rsplit("-", 1)[0] for tag in char_tags]
    starts = [i == 0 or not tag.endswith("-I") for i, tag in enumerate(char_tags)]
    forced: dict[int, str | None] = {}  # user word start -> its tag
    for start, end, entry in user_dict.matches(text) if user_dict else ():
        starts[start : end + 1] = [True] + [False] * (end - start - 1) + ([True] if end < len(text) else [])
        forced[start] = entry.tag
    bounds = [i for i, s in enumerate(starts[: len(text)]) if s] + [len(text)]
    words, tags = [], []
    for a, b in zip(bounds, bounds[1:], strict=False):
        words.append(text[a:b])
        tags.append(forced.get(a) or labels[a])
    return words, tags


def char_bio(
    words: Sequence[str], tags: Sequence[str], types: Sequence[str] = ("PER", "LOC", "ORG")
) -> list[str]:
    """One IOB2 tag per character for the words whose tag is in ``types`` (the rest ``"O"``), e.g. to
    score LAC's entities against a character-tagged corpus."""
    out: list[str] = []
    for word, tag in zip(words, tags, strict=True):
        inside = tag in types
        out += [f"B-{tag}" if inside else "O"] + [f"I-{tag}" if inside else "O"] * (len(word) - 1)
    return out
