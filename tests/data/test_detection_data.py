"""Detection data: COCO / VOC / YOLO readers on small folders built here, their errors, the
DetectionDataset contract, and the built-in composite ``pasted-objects``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import finehub as hub
from finehub.data.builtin import pasted_objects
from finehub.data.dataset import Dataset, TextExample
from finehub.data.detection import DetectionDataset, DetectionExample, from_coco, from_voc, from_yolo
from finehub.errors import ConfigError, DataFormatError
from finehub.imaging.images import load_image


def write_image(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)
    return path


def boxes_by_file(ds: DetectionDataset) -> dict[str, tuple[list[list[float]], list[int]]]:
    return {
        Path(ex.image).name: (ex.boxes.tolist(), ex.labels.tolist())
        for exs in ds.splits.values()
        for ex in exs
    }


# --- COCO --------------------------------------------------------------------------------------


def coco_json(n_images: int = 10, size: tuple[int, int] = (120, 80)) -> dict:
    images = [
        {"id": i + 1, "file_name": f"img{i}.png", "width": size[0], "height": size[1]}
        for i in range(n_images)
    ]
    annotations = []
    for i in range(n_images - 1):  # the last image has no objects
        annotations.append({"id": 2 * i + 1, "image_id": i + 1, "category_id": 7, "bbox": [10, 5, 30, 20]})
        annotations.append({"id": 2 * i + 2, "image_id": i + 1, "category_id": 3, "bbox": [i, 0, 40.5, 80]})
    annotations.append({"id": 99, "image_id": 1, "category_id": 3, "bbox": [0, 0, 120, 80], "iscrowd": 1})
    categories = [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(folder: Path, data: dict, *, images: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if images:
        for img in data["images"]:
            write_image(folder / img["file_name"], (img["width"], img["height"]))
    path = folder / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_from_coco_reads_boxes_and_deals_splits(tmp_path: Path) -> None:
    ann = write_coco(tmp_path / "coco", coco_json())
    ds = from_coco(ann)
    assert isinstance(ds, Dataset) and ds.task == "detection"
    assert ds.label_names == ["dog", "cat"]  # category ids in id order: 3, 7
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 8, "dev": 1, "test": 1}
    found = boxes_by_file(ds)
    # [x, y, w, h] -> x1 y1 x2 y2; the crowd annotation is left out; image 9 has no objects
    assert found["img0.png"] == ([[10, 5, 40, 25], [0, 0, 40.5, 80]], [1, 0])
    assert found["img4.png"] == ([[10, 5, 40, 25], [4, 0, 44.5, 80]], [1, 0])
    assert found["img9.png"] == ([], [])
    assert all(ex.label is None for ex in ds.train)
    assert load_image(ds.train[0].image).size == (120, 80)
    assert from_coco(ann).splits == ds.splits  # the same deal every time
    reshuffled = from_coco(ann, split_ratio=(0.5, 0.5), seed=3)
    assert {s: len(v) for s, v in reshuffled.splits.items()} == {"train": 5, "dev": 5}


def test_from_coco_keeps_given_splits(tmp_path: Path) -> None:
    train = write_coco(tmp_path / "train", coco_json(4))
    val = write_coco(tmp_path / "val", coco_json(2))
    ds = from_coco({"train": (train, tmp_path / "train"), "val": val})
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 4, "dev": 2}
    assert ds.name == "instances"
    with pytest.raises(ConfigError, match="split_ratio"):
        from_coco({"train": train, "val": val}, split_ratio=(0.8, 0.2))
    other = coco_json(2)
    other["categories"][0]["name"] = "lion"
    with pytest.raises(DataFormatError, match="categories"):
        from_coco({"train": train, "val": write_coco(tmp_path / "other", other)})


def _set(data: dict, path: tuple, value: object) -> dict:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("annotations", 0, "category_id", 5), "category_id 5 is not among the categories"),
        (("annotations", 0, "bbox", [100, 5, 30, 20]), "lies 10 px outside the 120×80 image"),
        (("annotations", 0, "bbox", [10, 5, 0, 20]), "has no area"),
        (("annotations", 0, "bbox", [10, 5, -4, 20]), "has no area"),
        (("annotations", 0, "bbox", "10 5 30 20"), "is not [x, y, width, height]"),
        (("images", 0, "width", 64), "the JSON says 64×80, the file is 120×80"),
    ],
)
def test_from_coco_bad_annotations_name_the_file(tmp_path: Path, change: tuple, message: str) -> None:
    write_coco(tmp_path, coco_json())  # the images as they are, then the changed annotations
    ann = write_coco(tmp_path, _set(coco_json(), change[:-1], change[-1]), images=False)
    with pytest.raises(DataFormatError) as err:
        from_coco(ann)
    assert err.value.path == str(ann) and message in str(err.value)
    assert "img0.png" in str(err.value)


def test_from_coco_clips_a_small_overshoot(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, _set(coco_json(), ("annotations", 0, "bbox"), [95.5, -0.8, 25, 20]))
    assert boxes_by_file(from_coco(ann))["img0.png"][0][0] == pytest.approx([95.5, 0, 120, 19.2])


def test_from_coco_missing_and_broken_images_name_the_image(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, coco_json())
    (tmp_path / "img3.png").unlink()
    with pytest.raises(DataFormatError) as err:
        from_coco(ann)
    assert err.value.path == str(tmp_path / "img3.png") and "not found" in str(err.value)
    (tmp_path / "img3.png").write_bytes(b"not an image at all")
    with pytest.raises(DataFormatError) as err:
        from_coco(ann)
    assert err.value.path == str(tmp_path / "img3.png") and "not a readable image" in str(err.value)


def test_from_coco_refuses_what_is_not_coco_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        from_coco(bad)
    bad.write_text(json.dumps([{"id": 1}]))
    with pytest.raises(DataFormatError, match="'images' and 'categories'"):
        from_coco(bad)
    with pytest.raises(ConfigError, match="is not a file"):
        from_coco(tmp_path / "missing.json")


# --- Pascal VOC --------------------------------------------------------------------------------


def voc_xml(filename: str, size: tuple[int, int], objects: list[tuple[str, tuple[int, ...], int]]) -> str:
    parts = [
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
        f"<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b, difficult in objects
    ]
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height><depth>3</depth></size>{''.join(parts)}</annotation>"
    )


def write_voc(root: Path, n: int = 6, *, image_sets: bool = False) -> Path:
    (root / "Annotations").mkdir(parents=True)
    for i in range(n):
        write_image(root / "JPEGImages" / f"{i:04d}.jpg", (100, 60))
        objects = [("person", (1, 1, 50, 60), 0), ("bird", (11 + i, 21, 40, 50), int(i == 0))]
        (root / "Annotations" / f"{i:04d}.xml").write_text(voc_xml(f"{i:04d}.jpg", (100, 60), objects))
    if image_sets:
        lists = root / "ImageSets" / "Main"
        lists.mkdir(parents=True)
        (lists / "train.txt").write_text("0000\n0001\n0002\n0003\n")
        (lists / "val.txt").write_text("0004\n0005\n")
        (lists / "person_train.txt").write_text("0000  1\n")  # per-class lists are not splits
    return root


def test_from_voc_reads_boxes(tmp_path: Path) -> None:
    ds = from_voc(write_voc(tmp_path / "voc"), split_ratio=(0.5, 0.5))
    assert ds.label_names == ["bird", "person"] and ds.name == "voc"
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 3, "dev": 3}
    # 1-based VOC corners: xmin 1 is the first pixel, so the box starts at 0
    assert boxes_by_file(ds)["0002.jpg"] == ([[0, 0, 50, 60], [12, 20, 40, 50]], [1, 0])
    no_difficult = boxes_by_file(from_voc(tmp_path / "voc", keep_difficult=False, split_ratio=(0.5, 0.5)))
    assert no_difficult["0000.jpg"] == ([[0, 0, 50, 60]], [1])


def test_from_voc_uses_image_sets(tmp_path: Path) -> None:
    ds = from_voc(write_voc(tmp_path / "voc", image_sets=True))
    assert [Path(ex.image).name for ex in ds.dev] == ["0004.jpg", "0005.jpg"] and len(ds.train) == 4
    assert "test" not in ds
    with pytest.raises(ConfigError, match="split_ratio"):
        from_voc(tmp_path / "voc", split_ratio=(0.5, 0.5))


def test_from_voc_bad_input(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc")
    with pytest.raises(DataFormatError) as err:
        from_voc(root, label_names=["person"])
    assert err.value.path == str(root / "Annotations" / "0000.xml") and "'bird' is not among" in str(
        err.value
    )
    bad = root / "Annotations" / "0003.xml"
    bad.write_text(voc_xml("0003.jpg", (100, 60), [("bird", (10, 10, 140, 50), 0)]))
    with pytest.raises(DataFormatError) as err:
        from_voc(root)
    assert err.value.path == str(bad) and "outside the 100×60 image" in str(err.value)
    bad.write_text(voc_xml("gone.jpg", (100, 60), []))
    with pytest.raises(DataFormatError) as err:
        from_voc(root)
    assert err.value.path == str(root / "JPEGImages" / "gone.jpg") and str(bad) in str(err.value)
    bad.write_text("<annotation><filename>")
    with pytest.raises(DataFormatError, match="not valid XML"):
        from_voc(root)


# --- YOLO --------------------------------------------------------------------------------------


def write_yolo(root: Path, split: str | None = None, n: int = 5) -> Path:
    images = root / "images" / split if split else root / "images"
    labels = root / "labels" / split if split else root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(images / f"{split or 'x'}{i}.jpg", (200, 100))
        if i:  # the first image has no label file: no objects
            (labels / f"{split or 'x'}{i}.txt").write_text(
                f"1 0.5 0.5 0.5 0.25\n\n0 0.1 0.2 0.2 {0.1 * i:.2f}\n"
            )
    return root


@pytest.mark.parametrize(
    "names",
    [["ball", "box"], "data.yaml", "dict.yaml", "classes.txt"],
)
def test_from_yolo_reads_normalised_boxes(tmp_path: Path, names: object) -> None:
    root = write_yolo(tmp_path / "yolo")
    (root / "data.yaml").write_text("path: .\nnames: [ball, box]\n")
    (root / "dict.yaml").write_text("names:\n  0: ball\n  1: box\n")
    (root / "classes.txt").write_text("ball\nbox\n")
    ds = from_yolo(root, names if isinstance(names, list) else root / str(names), split_ratio=(0.6, 0.4))
    assert ds.label_names == ["ball", "box"] and {s: len(v) for s, v in ds.splits.items()} == {
        "train": 3,
        "dev": 2,
    }
    found = boxes_by_file(ds)
    assert found["x0.jpg"] == ([], [])
    boxes, labels = found["x2.jpg"]
    assert labels == [1, 0]
    np.testing.assert_allclose(boxes, [[50, 37.5, 150, 62.5], [0, 10, 40, 30]], atol=1e-4)


def test_from_yolo_split_folders(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "yolo", "train", n=4)
    write_yolo(root, "val", n=2)
    ds = from_yolo(root, ["ball", "box"])
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 4, "dev": 2}
    flat = tmp_path / "roboflow"  # train/images, valid/images
    for split in ("train", "valid"):
        (flat / split).mkdir(parents=True)
        write_yolo(tmp_path / "tmp" / split, n=2).joinpath("images").rename(flat / split / "images")
        (tmp_path / "tmp" / split / "labels").rename(flat / split / "labels")
    assert {s: len(v) for s, v in from_yolo(flat, ["ball", "box"]).splits.items()} == {"train": 2, "dev": 2}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2 0.5 0.5 0.1 0.1", "class 2 is not an index in [0, 2)"),
        ("0 0.5 0.5 0.1", "expected 'class cx cy w h'"),
        ("0 0.9 0.5 0.4 0.2", "lies 20 px outside the 200×100 image"),
        ("0 0.5 0.5 0 0.2", "has no area"),
    ],
)
def test_from_yolo_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = write_yolo(tmp_path / "yolo")
    label_file = root / "labels" / "x3.txt"
    label_file.write_text(f"1 0.5 0.5 0.5 0.25\n{line}\n")
    with pytest.raises(DataFormatError) as err:
        from_yolo(root, ["ball", "box"])
    assert str(label_file) in str(err.value) and "line 2" in str(err.value) and message in str(err.value)


def test_from_yolo_bad_names_and_layout(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "yolo")
    (root / "data.yaml").write_text("nc: 2\n")
    with pytest.raises(DataFormatError, match="names:"):
        from_yolo(root, root / "data.yaml")
    with pytest.raises(ConfigError, match="not a file"):
        from_yolo(root, root / "missing.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="not a YOLO layout"):
        from_yolo(tmp_path / "empty", ["ball"])


# --- DetectionDataset / DetectionExample -------------------------------------------------------


def test_examples_and_dataset_check_their_values() -> None:
    with pytest.raises(ConfigError, match="M×4"):
        DetectionExample("a.jpg", [[1, 2, 3]], [0])
    with pytest.raises(ConfigError, match="one class per box"):
        DetectionExample("a.jpg", [[1, 2, 3, 4]], [0, 1])
    with pytest.raises(ConfigError, match="x1 < x2"):
        DetectionExample("a.jpg", [[5, 2, 3, 4]], [0])
    ex = DetectionExample("a.jpg", [[1, 2, 3, 4]], [2])
    assert ex.boxes.dtype == np.float32 and ex.labels.dtype == np.int64 and not ex.boxes.flags.writeable
    with pytest.raises(ConfigError, match=r"not all in \[0, 2\)"):
        DetectionDataset("d", {"train": [ex]}, ["a", "b"])
    with pytest.raises(ConfigError, match="expected a DetectionExample"):
        DetectionDataset("d", {"train": [object()]}, ["a", "b"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="a detection example carries boxes"):
        Dataset("d", {"train": [TextExample("a text", 0)]}, ["a"], task="detection")


def test_subset_keeps_a_detection_dataset() -> None:
    examples = [DetectionExample(f"{i}.jpg", [[0, 0, 1 + i, 1]], [i % 2]) for i in range(40)]
    ds = DetectionDataset("d", {"train": examples[:30], "dev": examples[30:]}, ["a", "b"], note="made here")
    small = ds.subset({"train": 5}, seed=1)
    assert isinstance(small, DetectionDataset) and small.note == "made here"
    assert len(small.train) == 5 and small.dev == ds.dev
    assert small.train == ds.subset({"train": 5}, seed=1).train
    assert set(map(id, small.train)) <= set(map(id, ds.train))
    summary = ds.summary()["splits"]["train"]
    assert summary["size"] == 30 and summary["boxes"] == {"a": 15, "b": 15} and summary["empty_images"] == 0
    assert repr(ds) == "DetectionDataset('d', num_classes=2, train=30, dev=10; made here)"


# --- the built-in composite --------------------------------------------------------------------


def test_pasted_objects_builtin() -> None:
    ds = hub.datasets.load("pasted-objects")
    assert "pasted-objects" in hub.datasets.list_datasets()
    assert isinstance(ds, DetectionDataset) and "composite" in repr(ds)
    assert ds.label_names == ["cat", "cup", "face"]
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 336, "dev": 72, "test": 72}
    counts = {name: 0 for name in ds.label_names}
    for ex in (ex for exs in ds.splits.values() for ex in exs):
        with Image.open(io.BytesIO(ex.image)) as img:
            width, height = img.size
        assert 256 <= width <= 416 and 256 <= height <= 416
        assert 1 <= len(ex.boxes) <= 4
        assert (ex.boxes >= 0).all() and (ex.boxes[:, 2] <= width).all() and (ex.boxes[:, 3] <= height).all()
        sides = np.maximum(ex.boxes[:, 2] - ex.boxes[:, 0], ex.boxes[:, 3] - ex.boxes[:, 1])
        assert (sides >= 30).all() and (sides <= 0.75 * min(width, height)).all()
        for label in ex.labels:
            counts[ds.label_names[label]] += 1
    assert counts == {"cat": 351, "cup": 398, "face": 389}
    assert hub.datasets.load("pasted-objects").splits == ds.splits


def test_pasted_objects_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    first = hub.datasets.load("pasted-objects").train[:8]
    monkeypatch.setattr(pasted_objects, "SPLIT_SIZES", {"train": 8})  # a fresh build of the first 8
    assert list(pasted_objects.generate(0)) == first
    other = pasted_objects.generate(1)
    assert all(a.image != b.image for a, b in zip(other, first, strict=True))
