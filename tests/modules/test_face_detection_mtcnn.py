"""face-detection-mtcnn with its real weights, on scikit-image's sample photos."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from finehub.errors import ModuleInputError
from finehub.modules.face_detection_mtcnn import FaceDetectionMTCNN

# The astronaut's face, read off the image by hand: cheek to cheek, hairline to chin.
ASTRONAUT_FACE = (178.0, 75.0, 272.0, 176.0)


def iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector() -> FaceDetectionMTCNN:
    return FaceDetectionMTCNN()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def test_finds_the_astronauts_face(detector: FaceDetectionMTCNN, astronaut: np.ndarray) -> None:
    [faces] = detector.detect_faces([astronaut])
    assert len(faces) == 1
    face = faces[0]
    assert face["score"] > 0.9
    assert iou(face["box"], ASTRONAUT_FACE) > 0.7
    marks = face["landmarks"]
    assert list(marks) == ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
    x1, y1, x2, y2 = face["box"]
    assert all(x1 < x < x2 and y1 < y < y2 for x, y in marks.values())
    assert marks["left_eye"][0] < marks["nose"][0] < marks["right_eye"][0]
    assert max(marks["left_eye"][1], marks["right_eye"][1]) < marks["nose"][1]
    assert marks["nose"][1] < min(marks["mouth_left"][1], marks["mouth_right"][1])


def test_no_face_in_coffee(detector: FaceDetectionMTCNN) -> None:
    assert detector.detect_faces([data.coffee()]) == [[]]


def test_mixed_size_batch_matches_single_images(detector: FaceDetectionMTCNN, astronaut: np.ndarray) -> None:
    half = np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.BILINEAR))
    batch = detector.detect_faces([astronaut, half, data.coffee()])
    singles = [detector.detect_faces([img])[0] for img in (astronaut, half, data.coffee())]
    assert [len(faces) for faces in batch] == [1, 1, 0]
    for got, alone in zip(batch, singles, strict=True):
        for f, g in zip(got, alone, strict=True):
            assert f["box"] == pytest.approx(g["box"], abs=0.05)
            assert f["score"] == pytest.approx(g["score"], abs=1e-4)
    scaled = [2 * v for v in batch[1][0]["box"]]
    assert iou(scaled, batch[0][0]["box"]) > 0.8


def test_all_input_kinds_agree(detector: FaceDetectionMTCNN, astronaut: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    encoded = path.read_bytes()
    inputs = [str(path), path, Image.open(path), encoded, base64.b64encode(encoded).decode()]
    boxes = [faces[0]["box"] for faces in detector.detect_faces(inputs)]
    assert all(box == boxes[0] for box in boxes)
    assert detector.predict(str(path)) == detector.detect_faces([astronaut])  # a single image is accepted


def test_keep_all_false_keeps_the_largest_face(detector: FaceDetectionMTCNN, astronaut: np.ndarray) -> None:
    face = Image.fromarray(astronaut).crop((130, 20, 320, 220))
    canvas = Image.new("RGB", (600, 300), (200, 200, 200))
    canvas.paste(face.resize((95, 100)), (20, 100))
    canvas.paste(face, (380, 50))
    [faces] = detector.detect_faces([canvas])
    assert len(faces) == 2
    [largest] = detector.detect_faces([canvas], keep_all=False)[0]
    assert largest["box"][0] > 380


def test_visualize_writes_one_image_per_input(
    detector: FaceDetectionMTCNN, astronaut: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "viz"
    results = detector.detect_faces([astronaut, data.coffee()], visualize=True, output_dir=out)
    saved = Path(results[0][0]["save_path"])
    assert saved.parent == out and saved.is_file()
    assert sorted(p.name for p in out.iterdir()) == ["image_0.png", "image_1.png"]
    drawn = np.asarray(Image.open(saved).convert("RGB")).astype(int)
    assert drawn.shape == astronaut.shape
    x1, y1, x2, y2 = (round(v) for v in results[0][0]["box"])
    # The box outline changed pixels along its edges, and nothing far from it.
    assert np.abs(drawn[y1:y2, x1] - astronaut[y1:y2, x1]).sum() > 0
    assert np.array_equal(drawn[400:, :100], astronaut[400:, :100])


def test_paddlehub_face_detection_shape(
    detector: FaceDetectionMTCNN, astronaut: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "a.jpg"
    Image.fromarray(astronaut).save(path, quality=95)
    [result] = detector.face_detection(data={"image": [str(path)]})
    assert result["path"] == str(path)
    [face] = result["data"]
    assert set(face) == {"left", "right", "top", "bottom", "confidence"}
    assert iou((face["left"], face["top"], face["right"], face["bottom"]), ASTRONAUT_FACE) > 0.7
    # PaddleHub's `images` are BGR arrays (cv2.imread order).
    [bgr] = detector.face_detection(images=[astronaut[..., ::-1]], visualization=True, output_dir=tmp_path)
    [rgb] = detector.detect_faces([astronaut])
    assert bgr["data"][0]["left"] == rgb[0]["box"][0] and bgr["path"] is None
    assert Path(bgr["save_path"]).is_file()
    assert detector.face_detection(images=[data.coffee()[..., ::-1]]) == [{"data": [], "path": None}]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"images": []}, "images"),
        ({"images": ["/no/such/photo.jpg"]}, "images[0]"),
        ({"images": [b"not an image"]}, "images[0]"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "min_face_size": 0}, "min_face_size"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "min_face_size": 0.5}, "min_face_size"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "min_face_size": float("inf")}, "min_face_size"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "thresholds": (0.05, 0.7, 0.7)}, "thresholds"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "thresholds": (0.6, 0.7)}, "thresholds"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)], "thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
    ],
)
def test_bad_input_is_a_module_input_error(detector: FaceDetectionMTCNN, kwargs: dict, field: str) -> None:
    with pytest.raises(ModuleInputError) as info:
        detector.detect_faces(**kwargs)
    assert info.value.field == field


def test_image_smaller_than_min_face_size_has_no_face(detector: FaceDetectionMTCNN) -> None:
    assert detector.detect_faces([np.full((10, 10, 3), 128, np.uint8)]) == [[]]


def test_lfw_subset_detection_rate(detector: FaceDetectionMTCNN) -> None:
    """lfw_subset: 100 tight 25×25 face crops, then 100 non-face crops of the same size."""
    images = (data.lfw_subset() * 255).round().astype(np.uint8)
    found = [len(f) > 0 for f in detector.detect_faces(list(images), min_face_size=12)]
    face_rate, false_rate = np.mean(found[:100]), np.mean(found[100:])
    print(f"lfw_subset: faces detected {face_rate:.0%}, non-face crops with a detection {false_rate:.0%}")
    assert face_rate >= 0.9
    assert false_rate <= 0.05
