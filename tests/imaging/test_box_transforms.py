"""Boxes follow the pixels through every detection transform; crops drop what they cut away."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from finehub.errors import ConfigError
from finehub.imaging.box_transforms import DetectionAugmentation, letterbox_with_boxes

GREY = (128, 128, 128)
COLOURS = {0: (255, 0, 0), 1: (0, 0, 255)}  # pure colours no geometric step creates from grey
NO_COLOUR = {"color_jitter": 0.0}


def painted(size: tuple[int, int], boxes: list[list[int]]) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A grey image with box i filled in COLOURS[i], and those boxes and labels."""
    arr = np.full((size[1], size[0], 3), GREY, dtype=np.uint8)
    for label, (x1, y1, x2, y2) in enumerate(boxes):
        arr[y1:y2, x1:x2] = COLOURS[label]
    return Image.fromarray(arr), np.array(boxes, dtype=np.float32), np.arange(len(boxes))


def colour_box(image: Image.Image, colour: tuple[int, int, int]) -> np.ndarray | None:
    """The bounding box (x1 y1 x2 y2, pixel edges) of the pixels close to ``colour``."""
    arr = np.asarray(image).astype(int)
    mask = (np.abs(arr - np.array(colour)).sum(axis=-1) < 120) & (
        np.abs(arr - np.array(GREY)).sum(axis=-1) > 60
    )
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)


def assert_boxes_follow(
    image: Image.Image, boxes: np.ndarray, labels: np.ndarray, dropped_max_area: float = 0.0, tol: float = 2.0
) -> None:
    """Each kept box is where its colour is; a dropped one left at most ``dropped_max_area`` pixels."""
    for box, label in zip(boxes, labels, strict=True):
        found = colour_box(image, COLOURS[int(label)])
        assert found is not None, f"label {label} was kept but its pixels are gone"
        np.testing.assert_allclose(found, box, atol=tol)
    for label in set(COLOURS) - set(labels.tolist()):
        found = colour_box(image, COLOURS[label])
        assert found is None or (found[2] - found[0]) * (found[3] - found[1]) <= dropped_max_area


SCENE = ((320, 240), [[20, 30, 80, 80], [200, 150, 290, 220]])


@pytest.mark.parametrize(
    "options",
    [
        {"crop_prob": 0.0, "zoom_out_prob": 0.0, "flip": True},
        {"crop_prob": 1.0, "zoom_out_prob": 0.0, "flip": False},
        {"crop_prob": 0.0, "zoom_out_prob": 1.0, "flip": False},
        {"crop_prob": 1.0, "zoom_out_prob": 1.0, "flip": True},
    ],
    ids=["flip", "crop", "zoom-out", "all"],
)
def test_boxes_follow_each_transform(options: dict) -> None:
    augment = DetectionAugmentation(**options, **NO_COLOUR)
    image, boxes, labels = painted(*SCENE)
    for seed in range(12):
        out, out_boxes, out_labels = augment(image, boxes, labels, np.random.default_rng(seed))
        assert out_boxes.dtype == np.float32 and out_labels.dtype == np.int64
        assert len(out_labels) >= 1  # a crop never loses every object
        # a dropped box kept less than min_visible (0.4) of its area in view
        assert_boxes_follow(out, out_boxes, out_labels, dropped_max_area=0.4 * 90 * 70)
        w, h = out.size
        assert (
            (out_boxes >= 0).all() and (out_boxes[:, [0, 2]] <= w).all() and (out_boxes[:, [1, 3]] <= h).all()
        )


def test_flip_mirrors_boxes() -> None:
    augment = DetectionAugmentation(crop_prob=0, zoom_out_prob=0, **NO_COLOUR)
    image, boxes, labels = painted(*SCENE)
    flipped = [augment(image, boxes, labels, np.random.default_rng(s)) for s in range(8)]
    mirrored = [b for img, b, _ in flipped if not np.array_equal(b, boxes)]
    assert mirrored and len(mirrored) < len(flipped)  # about half the draws flip
    np.testing.assert_array_equal(mirrored[0], [[240, 30, 300, 80], [30, 150, 120, 220]])


def test_small_crops_drop_the_boxes_they_cut_away() -> None:
    # a crop of 1/6 of the area cannot hold both corner boxes: one goes, with its label; when
    # ten draws all miss both boxes the image stays whole
    augment = DetectionAugmentation(
        crop_prob=1,
        crop_scale=(1 / 6, 1 / 6),
        crop_ratio=(1.0, 1.0),
        zoom_out_prob=0,
        flip=False,
        **NO_COLOUR,
    )
    image, boxes, labels = painted(*SCENE)
    kept = []
    for seed in range(30):
        out, out_boxes, out_labels = augment(image, boxes, labels, np.random.default_rng(seed))
        if out.size == image.size:
            np.testing.assert_array_equal(out_boxes, boxes)
            continue
        assert out.size == (round(np.sqrt(320 * 240 / 6)),) * 2
        assert len(out_labels) == 1
        assert_boxes_follow(out, out_boxes, out_labels, dropped_max_area=0.4 * 90 * 70)
        kept.append(int(out_labels[0]))
    assert set(kept) == {0, 1} and len(kept) >= 15


def test_min_visible_decides_which_cut_boxes_stay() -> None:
    image, boxes, labels = painted((200, 200), [[0, 0, 100, 100]])
    areas: dict[float, list[float]] = {}
    for min_visible in (0.1, 0.9):
        augment = DetectionAugmentation(
            crop_prob=1,
            crop_scale=(0.3, 0.3),
            zoom_out_prob=0,
            flip=False,
            min_visible=min_visible,
            **NO_COLOUR,
        )
        outs = [augment(image, boxes, labels, np.random.default_rng(seed)) for seed in range(15)]
        assert all(len(out_boxes) == 1 for _, out_boxes, _ in outs)  # redrawn, never emptied
        areas[min_visible] = [float(np.prod(b[0, 2:] - b[0, :2])) for _, b, _ in outs]
    assert min(areas[0.9]) >= 0.9 * 100 * 100
    assert min(areas[0.1]) >= 0.1 * 100 * 100 and min(areas[0.1]) < 0.9 * 100 * 100


def test_empty_images_pass_through() -> None:
    image = Image.new("RGB", (100, 80), GREY)
    out, boxes, labels = DetectionAugmentation(crop_prob=1, zoom_out_prob=1)(
        image, np.zeros((0, 4)), np.zeros(0), np.random.default_rng(0)
    )
    assert boxes.shape == (0, 4) and labels.shape == (0,) and out.mode == "RGB"


def test_same_seed_same_result() -> None:
    augment = DetectionAugmentation(crop_prob=1, zoom_out_prob=0.5)
    image, boxes, labels = painted(*SCENE)
    runs = [augment(image, boxes, labels, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(np.asarray(runs[0][0]), np.asarray(runs[1][0]))
    assert np.array_equal(runs[0][1], runs[1][1]) and np.array_equal(runs[0][2], runs[1][2])
    other = augment(image, boxes, labels, np.random.default_rng(8))
    assert other[0].size != runs[0][0].size or not np.array_equal(other[1], runs[0][1])


def test_colour_jitter_keeps_geometry() -> None:
    augment = DetectionAugmentation(crop_prob=0, zoom_out_prob=0, flip=False, color_jitter=0.5)
    image, boxes, labels = painted(*SCENE)
    out, out_boxes, out_labels = augment(image, boxes, labels, np.random.default_rng(3))
    assert not np.array_equal(np.asarray(out), np.asarray(image))
    np.testing.assert_array_equal(out_boxes, boxes)
    np.testing.assert_array_equal(out_labels, labels)


@pytest.mark.parametrize("size", [(320, 240), (240, 320), (97, 413)])
def test_letterbox_maps_boxes_into_the_square(size: tuple[int, int]) -> None:
    w, h = size
    image, boxes, labels = painted(size, [[10, 20, 60, 90], [w - 50, h - 40, w - 5, h - 3]])
    out, mapped = letterbox_with_boxes(image, boxes, 160, fill=(0, 0, 0))
    assert out.size == (160, 160) and mapped.dtype == np.float32
    assert_boxes_follow(out, mapped, labels, tol=1.5)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"crop_prob": 1.5}, "augment.crop_prob"),
        ({"crop_scale": (0.5, 0.2)}, "augment.crop_scale"),
        ({"crop_ratio": (0.0, 1.0)}, "augment.crop_ratio"),
        ({"zoom_out_max": 0.5}, "augment.zoom_out_max"),
        ({"color_jitter": 1.0}, "augment.color_jitter"),
        ({"min_visible": 0.0}, "augment.min_visible"),
        ({"fill": (0, 0, 300)}, "augment.fill"),
    ],
)
def test_bad_settings_are_config_errors(options: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        DetectionAugmentation(**options)
    assert err.value.field == field


def test_to_dict_round_trips_through_lists() -> None:
    augment = DetectionAugmentation(crop_scale=[0.2, 0.9], fill=[1, 2, 3])  # type: ignore[arg-type]
    assert augment.crop_scale == (0.2, 0.9)
    assert DetectionAugmentation(**augment.to_dict()) == augment
