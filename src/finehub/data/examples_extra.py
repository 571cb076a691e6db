"""Example types beyond text: images with a class, and token sequences with per-token tags.

Both fit :class:`~finehub.data.dataset.Dataset` (which reads an example's ``label``):

- :class:`ImageExample` carries a class index as ``label``, so an image dataset is an ordinary
  classification dataset (stratified splits and ``subset`` work unchanged).
- :class:`TokenExample` carries one tag index per token in ``tags``; its dataset-level ``label``
  is ``None`` (a sequence has no single class), so the dataset's ``label_names`` are the tag
  names and the tags themselves are checked by the sequence-labelling task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageExample:
    """``image``: anything :func:`finehub.imaging.images.load_image` accepts (path, PIL image,
    H×W or H×W×3 uint8 array, bytes); ``label``: a class index, or None when unlabeled."""

    image: Any
    label: int | None


@dataclass(frozen=True)
class TokenExample:
    """``tokens``: the words (or characters) of one sentence; ``tags``: one tag index per token
    (``Dataset.label_names`` names them, e.g. ``["O", "B-PER", "I-PER", ...]``), or None."""

    tokens: tuple[str, ...]
    tags: tuple[int, ...] | None

    @property
    def label(self) -> None:
        """No sentence-level label: Dataset's label checks and stratification see an unlabeled example."""
        return None

    @property
    def text_a(self) -> str:
        """The tokens joined by spaces (what deduplication and previews compare)."""
        return " ".join(self.tokens)
