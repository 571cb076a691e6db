"""What the image task kinds share: splits that keep images as given, and a content-keyed cache.

Images are decoded per batch (in ``collate``), so encoding a split only checks its labels and keeps
references; ``train`` splits are augmented, the others are not, so one content is cached twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from finehub.errors import ConfigError

A = TypeVar("A")

if TYPE_CHECKING:
    import numpy as np

    from finehub.finetune.collate import EncodedSplit


@dataclass(frozen=True)
class ImageSplit:
    """A split's images (as given: paths, arrays, PIL images), the labels its metrics read, and
    whether it is augmented (training)."""

    images: list[Any]
    labels: Any
    train: bool

    def __len__(self) -> int:
        return len(self.images)

    @property
    def lengths(self) -> np.ndarray:
        import numpy as np

        return np.ones(len(self.images), dtype=np.int64)  # all the same: batches are plain shuffles


class ImageInputs:
    """``encode`` and ``encoding_key`` of a task on images. Mix in before the Task base; the task
    says what identifies an example's label with :meth:`label_bytes`."""

    image_size: int
    _encoded: dict[str, EncodedSplit]

    def encode(self, examples: Sequence[Any], *, split: str = "data") -> Any:
        key = f"{self.encoding_key(examples)}/{split == 'train'}"
        if key not in self._encoded:
            self._encoded[key] = self.encode_examples(examples, split=split)  # type: ignore[attr-defined]
        return self._encoded[key]

    def encoding_key(self, examples: Sequence[Any]) -> str:
        import numpy as np

        h = hashlib.sha1(repr((self.image_size, len(examples))).encode())
        for e in examples:
            image = e.image
            h.update(image.tobytes() if isinstance(image, np.ndarray) else repr(image).encode())
            h.update(self.label_bytes(e))
        return h.hexdigest()

    def label_bytes(self, example: Any) -> bytes:
        return repr(example.label).encode()


def augmentation(augment: Any, kind: type[A]) -> A | None:
    """The ``kind`` augmentation ``augment`` asks for: True (the defaults), False (none), one
    already built, or a mapping of its fields (YAML's lists read as tuples)."""
    if isinstance(augment, bool):
        return kind() if augment else None
    if isinstance(augment, Mapping):
        return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in augment.items()})
    if isinstance(augment, kind):
        return augment
    raise ConfigError(
        "augment", f"must be true/false, {kind.__name__}(...) or a mapping of its fields, got {augment!r}"
    )
