"""Train-time image augmentation: random resized crop, horizontal flip, colour jitter.

Built from the steps of :mod:`finehub.imaging.transforms` (which also holds the eval pipeline and
:class:`ColorJitter`, re-exported here). Every random step draws from the ``numpy.random.Generator`` it is given;
:func:`batch_generator` derives one per batch from torch's global RNG, so a seeded run repeats
exactly and a run resumed from a checkpoint (which restores that RNG) continues the same stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.imaging.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ColorJitter,
    Compose,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ToTensor,
    Transform,
    rgb_triple,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """What train-time augmentation does; plain values, so a task can record them in its export.

    ``scale``: area fraction range of the random crop; ``ratio``: its aspect-ratio range;
    ``flip``: mirror half the images left-right (leave off for digits or text); ``color_jitter``:
    the brightness/contrast/saturation amount of :class:`ColorJitter` (0: off).
    """

    scale: tuple[float, float] = (0.5, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    color_jitter: float = 0.2

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(
                "augment.scale", f"must be (low, high) with 0 < low <= high <= 1, got {self.scale!r}"
            )
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ConfigError(
                "augment.ratio", f"must be (low, high) with 0 < low <= high, got {self.ratio!r}"
            )
        if not 0 <= self.color_jitter < 1:
            raise ConfigError("augment.color_jitter", f"must be in [0, 1), got {self.color_jitter!r}")

    def transform(
        self,
        *,
        image_size: int,
        rng: np.random.Generator,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> Compose:
        """The train pipeline: PIL RGB image -> normalised 3×``image_size``×``image_size`` tensor."""
        steps: list[Transform] = [RandomResizedCrop(image_size, rng, scale=self.scale, ratio=self.ratio)]
        if self.flip:
            steps.append(RandomHorizontalFlip(rng))
        if self.color_jitter:
            amount = self.color_jitter
            steps.append(ColorJitter(rng, brightness=amount, contrast=amount, saturation=amount))
        steps.append(ToTensor(rgb_triple(mean), rgb_triple(std)))
        return Compose(tuple(steps))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_generator() -> np.random.Generator:
    """A numpy generator seeded from torch's global RNG (one draw), for one batch's augmentation."""
    import numpy as np
    import torch

    return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
