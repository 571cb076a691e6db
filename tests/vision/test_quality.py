"""The three vision modules on real photos (scikit-image and scikit-learn samples).

Reference boxes and the astronaut's silhouette were read off the images by hand (drawn over them
and checked by eye): the boxes bound the visible object, the silhouette includes the helmet she holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data
from sklearn.datasets import load_sample_image

import finehub as hub

pytestmark = pytest.mark.usefixtures("human_models")

# (image, COCO label, reference box x1 y1 x2 y2, score_thresh)
EXPECTED = {
    "astronaut": ("person", (20, 15, 365, 512)),
    "coffee": ("cup", (170, 20, 415, 275)),
    "chelsea": ("cat", (0, 0, 425, 300)),
    "motorcycle": ("motorcycle", (100, 80, 688, 450)),
}
# The astronaut's outline, clockwise from the top of her hair.
ASTRONAUT_OUTLINE = [
    (225, 15), (265, 20), (290, 40), (302, 75), (298, 110), (285, 140), (300, 160), (305, 200), (320, 230),
    (345, 255), (360, 290), (365, 340), (400, 345), (450, 355), (485, 380), (500, 420), (505, 470), (505, 512),
    (20, 512), (18, 420), (22, 330), (35, 290), (60, 260), (110, 235), (115, 195), (125, 160), (155, 140),
    (152, 100), (150, 60), (170, 30), (195, 18),
]  # fmt: skip


def photo(name: str) -> np.ndarray:
    if name == "china":
        return load_sample_image("china.jpg")
    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector():
    return hub.Module("object-detection-nanodet")


@pytest.fixture(scope="module")
def segmenter():
    return hub.Module("human-segmentation")


@pytest.fixture(scope="module")
def pose():
    return hub.Module("pose-movenet")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_expected_object_is_found(detector, name: str) -> None:
    label, reference = EXPECTED[name]
    # letterboxing leaves the coffee cup at 0.27 (0.52 when the photo is stretched to a square)
    [found] = detector.object_detection(images=[photo(name)], score_thresh=0.25)
    best = max((d for d in found if d["label"] == label), key=lambda d: d["confidence"])
    assert iou((best["left"], best["top"], best["right"], best["bottom"]), reference) >= 0.5
    assert best is found[0] or name == "coffee"  # the photo's subject is the top detection


@pytest.mark.parametrize("name", ["rocket", "china"])
def test_nothing_confident_on_photos_without_coco_objects(detector, name: str) -> None:
    assert detector.object_detection(images=[photo(name)]) == [[]]


def test_batch_matches_single_images(detector) -> None:
    images = [photo(n) for n in ("astronaut", "coffee", "motorcycle")]
    batched = detector.object_detection(images=images, batch_size=8)
    assert batched == [detector.object_detection(images=[im])[0] for im in images]


def test_mask_covers_the_astronaut(segmenter) -> None:
    [result] = segmenter.segment(images=[photo("astronaut")])
    mask = result["data"]
    assert mask.shape == (512, 512) and mask.dtype == np.float32 and 0 <= mask.min() <= mask.max() <= 1
    reference = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(reference).polygon(ASTRONAUT_OUTLINE, fill=255)
    ref, ours = np.asarray(reference) > 0, mask > 0.5
    assert (ref & ours).sum() / (ref | ours).sum() >= 0.8


@pytest.mark.parametrize("name", ["rocket", "china", "motorcycle"])
def test_no_person_mask_without_people(segmenter, name: str) -> None:
    [result] = segmenter.segment(images=[photo(name)])
    assert (result["data"] > 0.5).mean() < 0.05


def test_mask_keeps_the_original_size(segmenter) -> None:
    [result] = segmenter.segment(images=[photo("coffee")])
    assert result["data"].shape == (400, 600)


def test_keypoints_fall_inside_the_person(pose) -> None:
    [result] = pose.keypoint_detection(images=[photo("astronaut")])
    points = result["data"]
    assert len(points) == 17 and list(points)[:3] == ["nose", "left_eye", "right_eye"]
    x1, y1, x2, y2 = EXPECTED["astronaut"][1]
    confident = {n: p for n, p in points.items() if p["score"] >= 0.3}
    assert {"nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"} <= set(confident)
    assert all(x1 <= p["x"] <= x2 and y1 <= p["y"] <= y2 for p in confident.values())
    # the person faces the camera: her left side is on the image's right
    assert points["right_shoulder"]["x"] < points["nose"]["x"] < points["left_shoulder"]["x"]
    assert points["left_eye"]["y"] < points["nose"]["y"] < points["left_shoulder"]["y"]


@pytest.mark.parametrize("name", ["rocket", "coffee"])
def test_low_keypoint_scores_without_people(pose, name: str) -> None:
    [result] = pose.keypoint_detection(images=[photo(name)])
    assert max(p["score"] for p in result["data"].values()) < 0.3
