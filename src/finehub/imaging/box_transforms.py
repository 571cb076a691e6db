"""Image transforms that carry boxes along: detection's train-time augmentation and letterboxing.

Boxes are float ``x1 y1 x2 y2`` arrays (M×4) in the pixels of the image they come with, each with
a class in a parallel ``labels`` array. :class:`DetectionAugmentation` applies, in this order:
colour jitter, zoom out (the image put at a random spot of a larger ``fill`` canvas, so objects
get smaller), a random crop (objects get larger, some are cut), a horizontal flip. A crop keeps a
box when at least ``min_visible`` of its area stays inside, clipped to the crop; the others are
dropped with their labels. A crop that would drop every box of an image is drawn again (at most
10 times, then the image is left uncropped), so an image with objects keeps some.
:func:`letterbox_with_boxes` then fits image and boxes into the model's square the way
:class:`~finehub.imaging.transforms.Letterbox` places images. Random draws come from the numpy
Generator passed in, so a seeded run repeats exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.imaging.transforms import ColorJitter, Letterbox

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

CROP_TRIES = 10


@dataclass(frozen=True)
class DetectionAugmentation:
    """What detection's train-time augmentation does; plain values, so a task can record them.

    ``crop_prob``: chance of a random crop covering ``crop_scale`` of the image's area with an
    aspect ratio in ``crop_ratio``; ``zoom_out_prob``: chance of placing the image on a canvas up
    to ``zoom_out_max`` times its size, filled with ``fill`` (by default the ImageNet mean, which
    normalises to 0); ``flip``: mirror half the images left-right; ``color_jitter``: the
    brightness/contrast/saturation amount of :class:`~finehub.imaging.transforms.ColorJitter`
    (0: off); ``min_visible``: the share of a box's area a crop must keep for the box to stay.
    """

    crop_prob: float = 0.5
    crop_scale: tuple[float, float] = (0.3, 1.0)
    crop_ratio: tuple[float, float] = (0.5, 2.0)
    zoom_out_prob: float = 0.3
    zoom_out_max: float = 2.0
    flip: bool = True
    color_jitter: float = 0.2
    min_visible: float = 0.4
    fill: tuple[int, int, int] = (124, 116, 104)

    def __post_init__(self) -> None:
        for name in ("crop_scale", "crop_ratio", "fill"):  # YAML and JSON give lists
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("crop_prob", "zoom_out_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(
                    f"augment.{name}", f"must be a probability in [0, 1], got {getattr(self, name)!r}"
                )
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(
                "augment.crop_scale",
                f"must be (low, high) with 0 < low <= high <= 1, got {self.crop_scale!r}",
            )
        if len(self.crop_ratio) != 2 or not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ConfigError(
                "augment.crop_ratio", f"must be (low, high) with 0 < low <= high, got {self.crop_ratio!r}"
            )
        if not 1 <= self.zoom_out_max <= 4:
            raise ConfigError("augment.zoom_out_max", f"must be in [1, 4], got {self.zoom_out_max!r}")
        if not 0 <= self.color_jitter < 1:
            raise ConfigError("augment.color_jitter", f"must be in [0, 1), got {self.color_jitter!r}")
        if not 0 < self.min_visible <= 1:
            raise ConfigError("augment.min_visible", f"must be in (0, 1], got {self.min_visible!r}")
        if len(self.fill) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in self.fill):
            raise ConfigError("augment.fill", f"must be three ints in [0, 255] (R, G, B), got {self.fill!r}")

    def __call__(
        self, image: Image.Image, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[Image.Image, np.ndarray, np.ndarray]:
        """The augmented image with its boxes (float32, M'×4) and their labels (int64, M')."""
        import numpy as np

        image = image.convert("RGB")
        boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        labels = np.array(labels, dtype=np.int64).reshape(-1)
        if self.color_jitter:
            amount = self.color_jitter
            image = ColorJitter(rng, brightness=amount, contrast=amount, saturation=amount)(image)
        if self.zoom_out_prob and rng.random() < self.zoom_out_prob:
            image, boxes = self._zoom_out(image, boxes, rng)
        if self.crop_prob and rng.random() < self.crop_prob:
            image, boxes, labels = self._crop(image, boxes, labels, rng)
        if self.flip and rng.random() < 0.5:
            image, boxes = hflip_with_boxes(image, boxes)
        return image, boxes, labels

    def _zoom_out(
        self, image: Image.Image, boxes: np.ndarray, rng: np.random.Generator
    ) -> tuple[Image.Image, np.ndarray]:
        import numpy as np
        from PIL import Image

        w, h = image.size
        factor = float(rng.uniform(1.0, self.zoom_out_max))
        cw, ch = max(w, round(w * factor)), max(h, round(h * factor))
        left, top = int(rng.integers(0, cw - w + 1)), int(rng.integers(0, ch - h + 1))
        canvas = Image.new("RGB", (cw, ch), self.fill)
        canvas.paste(image, (left, top))
        return canvas, boxes + np.float32([left, top, left, top])

    def _crop(
        self, image: Image.Image, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[Image.Image, np.ndarray, np.ndarray]:
        w, h = image.size
        log_ratio = (math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        for _ in range(CROP_TRIES):
            target = w * h * float(rng.uniform(*self.crop_scale))
            aspect = math.exp(float(rng.uniform(*log_ratio)))
            cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if not (0 < cw <= w and 0 < ch <= h):
                continue
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            window = (left, top, left + cw, top + ch)
            kept, moved = crop_boxes(boxes, window, self.min_visible)
            if len(boxes) and not kept.any():
                continue
            return image.crop(window), moved[kept], labels[kept]
        return image, boxes, labels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def crop_boxes(
    boxes: np.ndarray, window: tuple[int, int, int, int], min_visible: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes moved into the crop ``window`` (left, top, right, bottom) and clipped to it, with a
    mask of those keeping at least ``min_visible`` of their area."""
    import numpy as np

    left, top, right, bottom = window
    moved = np.clip(
        boxes - np.float32([left, top, left, top]), 0, np.float32([right - left, bottom - top] * 2)
    )
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    visible = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    kept = (visible > 0) & (visible >= min_visible * area)
    return kept, moved


def hflip_with_boxes(image: Image.Image, boxes: np.ndarray) -> tuple[Image.Image, np.ndarray]:
    """The image mirrored left-right, and its boxes with it."""
    import numpy as np
    from PIL import Image

    width = image.width
    flipped = boxes[:, [2, 1, 0, 3]] * np.float32([-1, 1, -1, 1]) + np.float32([width, 0, width, 0])
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), flipped


def letterbox_with_boxes(
    image: Image.Image, boxes: np.ndarray, size: int, fill: tuple[int, int, int] = (0, 0, 0)
) -> tuple[Image.Image, np.ndarray]:
    """``image`` fitted into a ``size``×``size`` ``fill`` square by
    :class:`~finehub.imaging.transforms.Letterbox`, and ``boxes`` mapped into that square."""
    letterbox = Letterbox(size, fill)
    return letterbox(image), letterboxed_boxes(boxes, image.size, letterbox)


def letterboxed_boxes(boxes: np.ndarray, image_size: tuple[int, int], letterbox: Letterbox) -> np.ndarray:
    """Boxes of an image of ``image_size`` (width, height) where ``letterbox`` puts its pixels:
    scaled by the resized image's own width and height ratios, so they follow its pixels exactly."""
    import numpy as np

    width, height = image_size
    _, left, top, new_w, new_h = letterbox.place(width, height)
    sx, sy = new_w / width, new_h / height
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return boxes * np.float32([sx, sy, sx, sy]) + np.float32([left, top, left, top])
