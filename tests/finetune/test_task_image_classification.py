"""ImageClassificationTask, image folders, built-in image datasets and train-time augmentation;
real fine-tuning on digits and lfw-faces must beat the majority class clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from finetune.tasks_support import finetune
from PIL import Image

import finehub as hub
import finehub.data.builtin.digits  # noqa: F401  (registers digits)
import finehub.data.builtin.lfw_faces  # noqa: F401  (registers lfw-faces)
from finehub.data.augment import Augmentation, ColorJitter, batch_generator
from finehub.data.dataset import Dataset
from finehub.data.examples_extra import ImageExample
from finehub.data.image_datasets import image_folder
from finehub.errors import ConfigError, DataFormatError
from finehub.finetune.tasks.image_classification import ImageClassificationTask, ImageClassifierTask


def write_images(root, classes: dict[str, int], size: int = 20) -> None:
    rng = np.random.default_rng(0)
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )


def test_image_folder_layouts(tmp_path) -> None:
    write_images(tmp_path / "flat", {"cat": 10, "dog": 10})
    (tmp_path / "flat" / "cat" / "notes.txt").write_text("not an image")
    ds = image_folder(tmp_path / "flat", split_ratio=(0.8, 0.2))
    assert ds.label_names == ["cat", "dog"] and {s: len(v) for s, v in ds.splits.items()} == {
        "train": 16,
        "dev": 4,
    }
    assert all(isinstance(ex, ImageExample) and ex.image.suffix == ".png" for ex in ds.train)
    write_images(tmp_path / "split" / "train", {"a": 3, "b": 3})
    write_images(tmp_path / "split" / "dev", {"b": 2})
    ds = image_folder(tmp_path / "split")
    assert set(ds.splits) == {"train", "dev"} and [ex.label for ex in ds.dev] == [1, 1]
    write_images(tmp_path / "bad" / "train", {"a": 1})
    write_images(tmp_path / "bad" / "test", {"z": 1})
    with pytest.raises(DataFormatError, match="'z'"):
        image_folder(tmp_path / "bad")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="no images"):
        image_folder(tmp_path / "empty")


def test_builtin_image_datasets() -> None:
    digits = hub.datasets.load("digits")
    assert {s: len(v) for s, v in digits.splits.items()} == {"train": 1437, "dev": 180, "test": 180}
    assert digits.label_names == [str(d) for d in range(10)]
    image = digits.train[0].image
    assert image.shape == (32, 32) and image.dtype == np.uint8 and image.max() > 200
    faces = hub.datasets.load("lfw-faces")
    assert {s: len(v) for s, v in faces.splits.items()} == {"train": 160, "dev": 20, "test": 20}
    assert faces.summary()["splits"]["test"]["labels"] == {"non-face": 10, "face": 10}


def test_augmentation_is_seeded_and_changes_pixels() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    aug = Augmentation(scale=(0.5, 1.0), flip=True, color_jitter=0.3)
    first = aug.transform(image_size=32, rng=np.random.default_rng(5))(img)
    again = aug.transform(image_size=32, rng=np.random.default_rng(5))(img)
    other = aug.transform(image_size=32, rng=np.random.default_rng(6))(img)
    assert first.shape == (3, 32, 32) and torch.equal(first, again) and not torch.equal(first, other)
    jittered = np.asarray(
        ColorJitter(np.random.default_rng(1), brightness=0.5, contrast=0, saturation=0)(img)
    )
    assert not np.array_equal(jittered, np.asarray(img))
    torch.manual_seed(3)
    a = batch_generator().random()
    torch.manual_seed(3)
    assert batch_generator().random() == a  # one draw from torch's RNG, which checkpoints restore
    with pytest.raises(ConfigError, match="scale"):
        Augmentation(scale=(0.0, 1.0))


def test_train_batches_are_augmented_and_reproducible() -> None:
    assert ImageClassifierTask is ImageClassificationTask
    ds = hub.datasets.load("lfw-faces").subset({"train": 8, "dev": 4, "test": 4})
    task = ImageClassificationTask(hub.Module("mobilenet-v2-imagenet"), num_classes=2, image_size=32)
    task.bind(ds)
    assert task.label_names == ["non-face", "face"] and task.resize == 37
    train, dev = task.encode(ds.train, split="train"), task.encode(ds.train, split="dev")
    torch.manual_seed(0)
    a = task.collate(train, np.arange(8))["pixel_values"]
    torch.manual_seed(0)
    b = task.collate(train, np.arange(8))["pixel_values"]
    c = task.collate(train, np.arange(8))["pixel_values"]
    assert a.shape == (8, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    e1, e2 = task.collate(dev, np.arange(8))["pixel_values"], task.collate(dev, np.arange(8))["pixel_values"]
    assert torch.equal(e1, e2)  # evaluation is deterministic
    with pytest.raises(ConfigError, match="ImageExample"):
        task.bind(Dataset("text", {"train": [hub.datasets.TextExample("x", 0)]}, ["a", "b"]))


@pytest.mark.slow
def test_digits_on_efficientnet(tmp_path) -> None:
    ds = hub.datasets.load("digits").subset({"train": 320, "dev": 40, "test": 150})
    task = ImageClassificationTask(
        hub.Module("efficientnet-lite0-imagenet"),
        num_classes=10,
        image_size=48,
        augment={"flip": False, "scale": [0.7, 1.0], "color_jitter": 0.1},
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=3, batch_size=32, lr=3e-3)
    majority = max(np.bincount([ex.label for ex in ds.test])) / len(ds.test)
    assert result.test_metrics["accuracy"] >= majority + 0.5  # majority class: about 0.1
    folder = trainer.export("digits", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    images = [ex.image for ex in ds.test[:8]]
    assert module.classify(images, top_k=3) == task.predict(images, top_k=3)
    assert module.backbone().model is module.net.encoder


@pytest.mark.slow
def test_lfw_faces_on_mobilenet(tmp_path) -> None:
    ds = hub.datasets.load("lfw-faces")
    task = ImageClassificationTask(hub.Module("mobilenet-v2-imagenet"), num_classes=2, image_size=64)
    _, result = finetune(task, ds, tmp_path / "run", epochs=2, batch_size=32, lr=1e-3)
    assert result.test_metrics["accuracy"] >= 0.85  # majority class: 0.5
