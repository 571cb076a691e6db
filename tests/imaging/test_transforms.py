"""Image transforms: exact geometry of resize/crop, normalisation, reproducible randomness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from finehub.imaging.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ResizeShorter,
    ToTensor,
    eval_transform,
    train_transform,
)


def _gradient(w: int, h: int) -> Image.Image:
    """An image whose pixels encode their own coordinates: R = x mod 256, G = y mod 256."""
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    arr = np.stack([xs % 256, ys % 256, np.full_like(xs, 7)], axis=-1).astype(np.uint8)
    return Image.fromarray(arr)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((640, 427), (383, 256)), ((427, 640), (256, 383)), ((256, 300), (256, 300)), ((100, 100), (256, 256))],
)
def test_resize_shorter_side_keeps_aspect_ratio(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert ResizeShorter(256)(Image.new("RGB", size)).size == expected


def test_center_crop_takes_the_middle_pixels() -> None:
    img = _gradient(383, 256)
    out = np.asarray(CenterCrop(224)(img))
    # left = round((383 - 224) / 2) = 80, top = 16
    assert out.shape == (224, 224, 3)
    np.testing.assert_array_equal(out, np.asarray(img)[16:240, 80:304])


def test_center_crop_pads_a_small_image_with_black() -> None:
    out = np.asarray(CenterCrop(8)(Image.new("RGB", (4, 2), (255, 255, 255))))
    assert out.shape == (8, 8, 3)
    assert out[3:5, 2:6].min() == 255  # the original, centred
    assert out.sum() == 4 * 2 * 3 * 255  # nothing else


def test_to_tensor_normalises_per_channel_in_rgb_order() -> None:
    img = Image.new("RGB", (5, 3), (255, 0, 127))
    t = ToTensor()(img)
    assert t.shape == (3, 3, 5) and t.dtype == torch.float32
    expected = [(v - m) / s for v, m, s in zip((255, 0, 127), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(t[:, 0, 0], torch.tensor(expected))
    assert torch.allclose(
        ToTensor((127.0,) * 3, (128.0,) * 3)(Image.new("RGB", (2, 2), (127, 127, 127))), torch.zeros(3, 2, 2)
    )


def test_eval_transform_batches_any_image_size_to_one_shape() -> None:
    tf = eval_transform(resize=256, image_size=224)
    batch = tf.batch([_gradient(640, 427), _gradient(300, 500), Image.new("RGB", (50, 60))])
    assert batch.shape == (3, 3, 224, 224)
    assert batch[0, 2].std() < 1e-5  # the constant blue channel stays constant


def test_random_resized_crop_is_reproducible_with_a_seed() -> None:
    img = _gradient(320, 200)

    def crops(seed: int) -> list[np.ndarray]:
        tf = RandomResizedCrop(64, np.random.default_rng(seed))
        return [np.asarray(tf(img)) for _ in range(3)]

    first, again, other = crops(0), crops(0), crops(1)
    assert all(c.shape == (64, 64, 3) for c in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_random_resized_crop_full_scale_square_is_a_plain_resize() -> None:
    img = _gradient(100, 100)
    out = RandomResizedCrop(50, np.random.default_rng(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))(img)
    np.testing.assert_array_equal(
        np.asarray(out), np.asarray(img.resize((50, 50), Image.Resampling.BILINEAR))
    )


def test_horizontal_flip_mirrors_with_probability_p() -> None:
    img = _gradient(10, 4)
    flipped = np.asarray(RandomHorizontalFlip(np.random.default_rng(0), p=1.0)(img))
    np.testing.assert_array_equal(flipped, np.asarray(img)[:, ::-1])
    np.testing.assert_array_equal(
        np.asarray(RandomHorizontalFlip(np.random.default_rng(0), p=0.0)(img)), np.asarray(img)
    )


def test_train_transform_gives_normalised_tensors_of_the_crop_size() -> None:
    tf = train_transform(image_size=96, rng=np.random.default_rng(3), mean=(127,) * 3, std=(128,) * 3)
    batch = tf.batch([_gradient(300, 200)] * 4)
    assert batch.shape == (4, 3, 96, 96)
    assert batch.min() >= -1.0 and batch.max() <= 1.0
