"""``pasted-objects``: a COMPOSITE detection dataset of real photo cut-outs pasted on real photos.

Not a collection of natural scenes: every image is made here, deterministically from ``seed``,
out of sample photos that ship inside scikit-image and scikit-learn (nothing is downloaded or
stored). Three classes, each cut out as an ellipse:

- ``cat``: the head of the tabby cat of ``skimage.data.chelsea()``;
- ``cup``: the espresso cup on its saucer of ``skimage.data.coffee()``;
- ``face``: one of the 100 grey face crops of ``skimage.data.lfw_subset()`` (Labeled Faces in
  the Wild), upscaled.

Each image is a random crop of a background photo (sklearn's ``china`` and ``flower``,
skimage's ``brick``, ``grass``, ``gravel``, ``rocket``, ``hubble_deep_field``,
``immunohistochemistry``, ``stereo_motorcycle``, ``moon``; grey ones tinted), 256-416 pixels a
side, resized, mirrored and brightened at random. On it go 0-2 unlabeled distractors (the 100
non-face crops of ``lfw_subset()`` and ellipses cut from the background photos: they look like a
pasted object but belong to no class, so a detector must learn the objects' looks, not the
pasting), then 1-4 objects, 40-200 pixels long, each scaled, mirrored, rotated up to 15° and
changed in brightness and contrast at random, overlapping earlier ones by at most 10% of the
smaller area. A box is the exact extent of its object's pasted pixels. Images are stored as
JPEG bytes (quality 92).

``seed`` draws everything: another seed gives another dataset of the same sizes. With the
default ``seed=0``: 480 images, train/dev/test 336 / 72 / 72, 1,138 boxes (cat 351,
cup 398, face 389), none without objects. Built once per process and seed, in about 4 s of CPU,
and held in memory (about 16 MB).
"""

from __future__ import annotations

import functools
import io
import math
from typing import TYPE_CHECKING

from finehub._utils.lazy import require
from finehub.data.detection import DetectionDataset, DetectionExample
from finehub.data.registry import register_dataset

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

NAME = "pasted-objects"
LABEL_NAMES = ["cat", "cup", "face"]
SPLIT_SIZES = {"train": 336, "dev": 72, "test": 72}
NOTE = "composite: photo cut-outs pasted on photo backgrounds, generated from packaged sample images"

IMAGE_SIDE = (256, 416)  # each side drawn in this range, inclusive
OBJECT_LONG_SIDE = (40, 200)  # and at most 60% of the image's shorter side
OBJECTS_PER_IMAGE = (1, 4)
MAX_OVERLAP = 0.1  # of the smaller box's area
MAX_ROTATION = 15.0  # degrees
JPEG_QUALITY = 92
SOURCE_LONG_SIDE = (240, 640)  # objects and backgrounds are shrunk to this once, for speed
OPAQUE = [0] * 128 + [255] * 128  # alpha lookup: half-covered pixels and up become opaque
# (left, top, right, bottom) of the cut-outs in their photos
CAT_HEAD = (20, 0, 420, 300)  # chelsea(), 451×300
CUP = (70, 10, 485, 395)  # coffee(), 600×400
FACES = 100  # lfw_subset(): images [0, 100) are faces, [100, 200) are not


@register_dataset(NAME)
def pasted_objects(*, seed: int = 0) -> DetectionDataset:
    examples = _cached(seed)
    splits, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        splits[split] = examples[start : start + size]
        start += size
    return DetectionDataset(NAME, splits, LABEL_NAMES, note=NOTE)


@functools.lru_cache(maxsize=2)
def _cached(seed: int) -> tuple[DetectionExample, ...]:
    return generate(seed)


def generate(seed: int) -> tuple[DetectionExample, ...]:
    """Every image of the dataset, train first, then dev, then test (uncached)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sources = _Sources.load()
    return tuple(_compose(sources, rng) for _ in range(sum(SPLIT_SIZES.values())))


class _Sources:
    """The photos everything is cut from, as RGB(A) PIL images."""

    def __init__(
        self,
        objects: list[list[Image.Image]],
        distractors: list[Image.Image],
        backgrounds: list[Image.Image],
    ):
        self.objects, self.distractors, self.backgrounds = objects, distractors, backgrounds

    @classmethod
    def load(cls) -> _Sources:
        import numpy as np
        from PIL import Image

        feature = f"The {NAME!r} dataset"
        sk_data = require("skimage.data", package="scikit-image", extra="datasets", feature=feature)
        sk_datasets = require("sklearn.datasets", package="scikit-learn", extra="datasets", feature=feature)
        lfw = [
            Image.fromarray(np.round(img * 255).astype(np.uint8)).convert("RGB")
            for img in sk_data.lfw_subset()
        ]
        objects = [
            [Image.fromarray(sk_data.chelsea()).crop(CAT_HEAD)],
            [Image.fromarray(sk_data.coffee()).crop(CUP)],
            lfw[:FACES],
        ]
        tints = [(1.0, 0.9, 0.75), (0.8, 1.0, 0.8), (0.85, 0.9, 1.0), (1.0, 1.0, 1.0)]
        grey = [sk_data.brick(), sk_data.grass(), sk_data.gravel(), sk_data.moon()]
        backgrounds = [Image.fromarray(img) for img in sk_datasets.load_sample_images().images]
        backgrounds += [
            Image.fromarray(sk_data.rocket()),
            Image.fromarray(sk_data.hubble_deep_field()),
            Image.fromarray(sk_data.immunohistochemistry()),
            Image.fromarray(sk_data.stereo_motorcycle()[0]),
        ]
        for img, tint in zip(grey, tints, strict=True):
            rgb = np.clip(img[..., None].astype(np.float32) * np.float32(tint), 0, 255).astype(np.uint8)
            backgrounds.append(Image.fromarray(rgb))
        objects = [[_shrink(img, SOURCE_LONG_SIDE[0]) for img in instances] for instances in objects]
        return cls(objects, lfw[FACES:], [_shrink(img, SOURCE_LONG_SIDE[1]) for img in backgrounds])


def _shrink(image: Image.Image, long_side: int) -> Image.Image:
    from PIL import Image

    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)


def _compose(sources: _Sources, rng: np.random.Generator) -> DetectionExample:
    import numpy as np

    width, height = (int(v) for v in rng.integers(IMAGE_SIDE[0], IMAGE_SIDE[1] + 1, size=2))
    canvas = _background(sources, width, height, rng)
    for _ in range(int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2]))):
        source = rng.integers(len(sources.distractors) + len(sources.backgrounds))
        if source < len(sources.distractors):
            patch = sources.distractors[source]
        else:
            photo = sources.backgrounds[source - len(sources.distractors)]
            patch = _random_crop(photo, rng.uniform(0.6, 1.6), rng.uniform(0.15, 0.5), rng)
        sprite = _sprite(patch, _long_side(width, height, rng), rng)
        x, y = (
            int(rng.integers(0, limit - side + 1))
            for limit, side in zip(canvas.size, sprite.size, strict=True)
        )
        canvas.paste(sprite, (x, y), sprite)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1))):
        label = int(rng.integers(len(LABEL_NAMES)))
        instances = sources.objects[label]
        sprite = _sprite(instances[int(rng.integers(len(instances)))], _long_side(width, height, rng), rng)
        left, top, right, bottom = sprite.getchannel("A").getbbox() or (0, 0, *sprite.size)
        for _try in range(20):
            x = int(rng.integers(-left, width - right + 1))
            y = int(rng.integers(-top, height - bottom + 1))
            box = (x + left, y + top, x + right, y + bottom)
            if all(_overlap(box, other) <= MAX_OVERLAP for other in boxes):
                canvas.paste(sprite, (x, y), sprite)
                boxes.append(box)
                labels.append(label)
                break
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=JPEG_QUALITY)
    return DetectionExample(out.getvalue(), np.array(boxes, dtype=np.float32), labels)


def _background(sources: _Sources, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    from PIL import Image, ImageEnhance

    photo = sources.backgrounds[int(rng.integers(len(sources.backgrounds)))]
    crop = _random_crop(photo, width / height, rng.uniform(0.4, 1.0), rng)
    image = crop.resize((width, height), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.7, 1.3)))


def _random_crop(photo: Image.Image, aspect: float, share: float, rng: np.random.Generator) -> Image.Image:
    """A crop of ``photo`` with this aspect ratio (width / height), ``share`` of the largest such."""
    w, h = photo.size
    fit_w = min(w, h * aspect)
    cw, ch = max(1, round(fit_w * share)), max(1, round(fit_w * share / aspect))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return photo.crop((left, top, left + cw, top + ch))


def _long_side(width: int, height: int, rng: np.random.Generator) -> int:
    """A log-uniform object size, so small objects are as common as large ones."""
    high = min(OBJECT_LONG_SIDE[1], 0.6 * min(width, height))
    return round(math.exp(rng.uniform(math.log(OBJECT_LONG_SIDE[0]), math.log(high))))


def _sprite(patch: Image.Image, long_side: int, rng: np.random.Generator) -> Image.Image:
    """``patch`` as an RGBA ellipse cut-out: scaled so its longer side is ``long_side`` (aspect
    jittered by up to 10%), maybe mirrored, rotated and changed in brightness and contrast. Its
    alpha is 0 or 255, so the pasted pixels are exactly the opaque ones."""
    from PIL import Image, ImageDraw, ImageEnhance

    w, h = patch.size
    scale = long_side / max(w, h)
    stretch = float(rng.uniform(0.9, 1.1))
    size = (max(8, round(w * scale * stretch)), max(8, round(h * scale / stretch)))
    image = patch.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.75, 1.25)))
    image = ImageEnhance.Contrast(image).enhance(float(rng.uniform(0.8, 1.2)))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, size[0] - 1, size[1] - 1), fill=255)
    image.putalpha(mask)
    angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    rotated = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    rotated.putalpha(rotated.getchannel("A").point(OPAQUE))
    return rotated


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection of two boxes over the smaller one's area."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller
