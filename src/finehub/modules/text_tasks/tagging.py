"""Tag schemes, entity spans and Viterbi decoding in plain Python/numpy (no torch, no scorer).

Used by the exported sequence-labelling module, PyTorch or ONNX, to turn tags into entities.
Tags follow IOB2 (``B-X``, ``I-X``, ``O``) or BIOES (adds ``E-X`` and ``S-X``). Span reading
follows conlleval: an ``I-X``/``E-X`` that does not continue an ``X`` entity starts one, as
seqeval's default mode reads them when fine-tuning scores entities (``finetune.metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

PREFIXES = ("B", "I", "E", "S")


class Span(NamedTuple):
    """Entity ``type`` over tokens ``[start, end)``."""

    type: str
    start: int
    end: int


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` (or anything without a known prefix) -> ``("O", "")``."""
    prefix, sep, kind = tag.partition("-")
    return (prefix, kind) if sep and prefix in PREFIXES and kind else ("O", "")


def spans(tags: Sequence[str]) -> list[Span]:
    """The entities of one tag sequence."""
    out: list[Span] = []
    kind, start = "", -1
    for i, tag in enumerate([*tags, "O"]):
        prefix, t = split_tag(tag)
        continues = prefix in ("I", "E") and t == kind and start >= 0
        if start >= 0 and not continues:
            out.append(Span(kind, start, i))
            kind, start = "", -1
        if prefix != "O" and not continues:
            kind, start = t, i
        if prefix in ("E", "S") and start >= 0:
            out.append(Span(kind, start, i + 1))
            kind, start = "", -1
    return out


def viterbi(emissions: np.ndarray, start: np.ndarray, end: np.ndarray, transitions: np.ndarray) -> list[int]:
    """The best tag sequence for one L×T emission matrix under a linear-chain CRF's scores."""
    import numpy as np

    if len(emissions) == 0:
        return []
    score = start + emissions[0]
    back = []
    for row in emissions[1:]:
        candidates = score[:, None] + transitions
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + row
    tag = int(np.argmax(score + end))
    path = [tag]
    for pointers in reversed(back):
        tag = int(pointers[tag])
        path.append(tag)
    return path[::-1]
