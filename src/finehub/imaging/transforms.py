"""Image transforms on PIL images, ending in a normalised torch tensor.

Each transform is a small callable ``PIL.Image -> PIL.Image`` (the last one, :class:`ToTensor`,
gives a 3×H×W float tensor), chained with :class:`Compose`. :func:`eval_transform` is the
resize-shorter-side / centre-crop / normalise pipeline every ImageNet classifier expects;
:func:`train_transform` swaps the deterministic crop for random-resized-crop and flip. Random
transforms draw from a ``numpy.random.Generator`` passed in, so a seeded run is reproducible.

Geometry follows torchvision's PIL path (bilinear resize with antialiasing, shorter side to
``size``, centre crop rounded the same way), so weights trained with torchvision see the same pixels.
Normalisation uses values on the 0-255 scale: ``(pixel - mean) / std``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

Transform = Callable[[Any], Any]

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # (0.485, 0.456, 0.406) × 255
IMAGENET_STD = (58.395, 57.12, 57.375)  # (0.229, 0.224, 0.225) × 255


def _bilinear() -> int:
    from PIL import Image

    return Image.Resampling.BILINEAR


@dataclass(frozen=True)
class ResizeShorter:
    """Scale so the shorter side is ``size`` pixels, keeping the aspect ratio."""

    size: int

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        if short == self.size:
            return img
        new_long = int(self.size * long / short)
        new = (self.size, new_long) if w <= h else (new_long, self.size)
        return img.resize(new, _bilinear())


@dataclass(frozen=True)
class CenterCrop:
    """The central ``size``×``size`` square (zero-padded first if the image is smaller)."""

    size: int

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if w < self.size or h < self.size:
            from PIL import Image

            canvas = Image.new("RGB", (max(w, self.size), max(h, self.size)))
            canvas.paste(img, ((canvas.width - w) // 2, (canvas.height - h) // 2))
            img, (w, h) = canvas, canvas.size
        left = int(round((w - self.size) / 2.0))
        top = int(round((h - self.size) / 2.0))
        return img.crop((left, top, left + self.size, top + self.size))


@dataclass(frozen=True)
class RandomResizedCrop:
    """A random crop covering ``scale`` of the area with aspect ratio in ``ratio`` (log-uniform),
    resized to ``size``×``size``; falls back to the central square after 10 failed draws."""

    size: int
    rng: np.random.Generator
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        area = w * h
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * self.rng.uniform(*self.scale)
            aspect = math.exp(self.rng.uniform(*log_ratio))
            cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                left = int(self.rng.integers(0, w - cw + 1))
                top = int(self.rng.integers(0, h - ch + 1))
                return img.resize((self.size, self.size), _bilinear(), box=(left, top, left + cw, top + ch))
        return CenterCrop(min(w, h))(img).resize((self.size, self.size), _bilinear())


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    rng: np.random.Generator
    p: float = 0.5

    def __call__(self, img: Image.Image) -> Image.Image:
        from PIL import Image

        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if self.rng.random() < self.p else img


@dataclass(frozen=True)
class ColorJitter:
    """Scale brightness, contrast and saturation by factors drawn uniformly from ``[1 - a, 1 + a]``
    (``a = 0`` leaves that property alone)."""

    rng: np.random.Generator
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, img: Image.Image) -> Image.Image:
        from PIL import ImageEnhance

        for enhancer, amount in (
            (ImageEnhance.Brightness, self.brightness),
            (ImageEnhance.Contrast, self.contrast),
            (ImageEnhance.Color, self.saturation),
        ):
            if amount:
                img = enhancer(img).enhance(float(self.rng.uniform(1 - amount, 1 + amount)))
        return img


@dataclass(frozen=True)
class ToTensor:
    """RGB PIL image -> float32 tensor 3×H×W, ``(pixel - mean) / std`` per channel, 0-255 scale."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import numpy as np
        import torch

        arr = np.asarray(img.convert("RGB"), dtype=np.float32)
        arr = (arr - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


@dataclass(frozen=True)
class Compose:
    """Apply ``steps`` in order."""

    steps: tuple[Transform, ...]

    def __call__(self, img: Any) -> Any:
        for step in self.steps:
            img = step(img)
        return img

    def batch(self, images: Iterable[Image.Image]) -> torch.Tensor:
        """Transform each image and stack the tensors into N×3×H×W."""
        import torch

        return torch.stack([self(img) for img in images])


@dataclass(frozen=True)
class Letterbox:
    """Scale to fit a ``size``×``size`` square keeping the aspect ratio, centred on a ``fill`` canvas.

    :meth:`place` gives the scale and offsets, so a point (x, y) of the square maps back to the
    original image as ``((x - left) / scale, (y - top) / scale)``.
    """

    size: int
    fill: tuple[int, int, int] = (0, 0, 0)

    def place(self, width: int, height: int) -> tuple[float, int, int, int, int]:
        """(scale, left, top, new width, new height) of an image of ``width``×``height``."""
        scale = self.size / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        return scale, (self.size - new_w) // 2, (self.size - new_h) // 2, new_w, new_h

    def __call__(self, img: Image.Image) -> Image.Image:
        from PIL import Image

        _, left, top, new_w, new_h = self.place(*img.size)
        canvas = Image.new("RGB", (self.size, self.size), self.fill)
        canvas.paste(img.convert("RGB").resize((new_w, new_h), _bilinear()), (left, top))
        return canvas


def eval_transform(
    *,
    resize: int,
    image_size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Compose:
    """Resize the shorter side to ``resize``, centre-crop ``image_size``, normalise."""
    return Compose(
        (ResizeShorter(resize), CenterCrop(image_size), ToTensor(rgb_triple(mean), rgb_triple(std)))
    )


def train_transform(
    *,
    image_size: int,
    rng: np.random.Generator,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale: tuple[float, float] = (0.08, 1.0),
    flip: bool = True,
) -> Compose:
    """Random-resized-crop to ``image_size`` (area fraction in ``scale``), optional flip, normalise."""
    steps: list[Transform] = [RandomResizedCrop(image_size, rng, scale=scale)]
    if flip:
        steps.append(RandomHorizontalFlip(rng))
    steps.append(ToTensor(rgb_triple(mean), rgb_triple(std)))
    return Compose(tuple(steps))


def rgb_triple(values: Sequence[float]) -> tuple[float, float, float]:
    """Three per-channel numbers (R, G, B) as floats, from any sequence of three (e.g. JSON lists)."""
    a, b, c = (float(v) for v in values)
    return (a, b, c)
