"""What the image task kinds share: a base class taking their common arguments, splits that keep
images as given, and a content-keyed cache.

Images are decoded per batch (in ``collate``), so encoding a split only checks its labels and keeps
references; ``train`` splits are augmented, the others are not, so one content is cached twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from finehub.errors import ConfigError
from finehub.finetune.tasks._text_base import check_label_names, check_num_classes, check_seed
from finehub.finetune.tasks.base import Task

A = TypeVar("A")

if TYPE_CHECKING:
    import numpy as np


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


IMAGE_OPTIONS = ("num_classes", "label_names", "augment", "metrics", "main_metric", "seed")


def image_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`ImageTask` settings among a subclass constructor's ``arguments`` (its
    ``locals()``), so each kind lists its parameters once, in its own signature, for YAML's checks."""
    return {k: arguments[k] for k in IMAGE_OPTIONS}


class ImageTask(Task):
    """A task on an image backbone: the arguments every image kind takes (classes and their names,
    augmentation, metrics, seed), and ``encode`` / ``encoding_key`` over images; the kind says what
    identifies an example's label with :meth:`label_bytes`.

    ``augment`` becomes an ``augmentation_kind`` (see :func:`augmentation`); ``base_module`` is the
    name of the module the backbone came from, recorded in the export.
    """

    image_size: int

    def __init__(
        self,
        module: Any,
        backbone: Any,
        *,
        num_classes: int,
        min_classes: int,
        label_names: Sequence[str] | None,
        augment: Any,
        augmentation_kind: type,
        metrics: Sequence[str],
        main_metric: str,
        seed: int,
    ) -> None:
        super().__init__(metrics=metrics, main_metric=main_metric)
        self.num_classes = check_num_classes(num_classes, minimum=min_classes)
        self.label_names = check_label_names(label_names, num_classes)
        check_seed(seed)
        self.augment = augmentation(augment, augmentation_kind)
        self.backbone = backbone
        self.base_module = getattr(getattr(module, "info", None), "name", None)

    def encode(self, examples: Sequence[Any], *, split: str = "data") -> Any:
        key = f"{self.encoding_key(examples)}/{split == 'train'}"
        if key not in self._encoded:
            self._encoded[key] = self.encode_examples(examples, split=split)
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
