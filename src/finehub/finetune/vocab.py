"""Teach a WordPiece encoder the CJK characters its vocabulary lacks.

English vocabularies (MiniLM's, BERT-uncased's) hold only a few hundred CJK characters, so most
Chinese text becomes ``[UNK]``. BERT's tokenizer already splits CJK text into single characters;
adding each frequent missing character as a token, with a fresh embedding row, lets fine-tuning
learn them. New rows start at the mean of the existing rows plus per-dimension std times seeded
Gaussian noise, so they look like ordinary embeddings to the first layer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

# The code-point blocks BERT's basic tokenizer treats as CJK (tokenization_bert._is_chinese_char).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk(char: str) -> bool:
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def missing_cjk_chars(tokenizer: Any, texts: Iterable[str], min_count: int) -> list[str]:
    """CJK characters seen at least ``min_count`` times and absent from the vocabulary, most
    frequent first (ties by code point, so the result is deterministic)."""
    counts = Counter(c for text in texts for c in text if c >= "\u3400" and is_cjk(c))
    vocab = tokenizer.get_vocab()
    chars = [c for c, n in counts.items() if n >= min_count and c not in vocab]
    return sorted(chars, key=lambda c: (-counts[c], c))


def extend_vocab(
    tokenizer: Any, model: nn.Module, texts: Iterable[str], *, min_count: int = 2, seed: int = 0
) -> list[str]:
    """Add missing CJK characters of ``texts`` to ``tokenizer`` and ``model``'s input embeddings
    (both changed in place); returns the characters added."""
    import torch
    from transformers import AddedToken

    new = missing_cjk_chars(tokenizer, texts, min_count)
    if not new:
        return []
    # normalized=False: a CJK character is its own normal form, and the token keeps its plain text
    tokenizer.add_tokens([AddedToken(c, normalized=False) for c in new])
    ids = torch.tensor(tokenizer.convert_tokens_to_ids(new))
    old = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        existing = weight[:old].float()
        noise = torch.randn(len(ids), weight.shape[1], generator=torch.Generator().manual_seed(seed))
        weight[ids] = (existing.mean(0) + existing.std(0) * noise).to(weight.dtype)
    log.info("Added %d CJK characters to the vocabulary (now %d tokens)", len(new), len(tokenizer))
    return new
