"""Text datasets: the registry of built-ins, and loaders for your own files.

    import finehub as hub
    ds = hub.datasets.load("chinese-reviews")              # a built-in (see list_datasets())
    ds = hub.datasets.from_tsv("train.tsv", dev="dev.tsv")  # PaddleHub's `label<TAB>text_a` files
    ds = hub.datasets.from_folder("reviews/")              # train/dev/test files, or a folder per class
    ds = hub.datasets.from_coco("instances.json", "images/")  # detection: also from_voc, from_yolo

The public face of :mod:`finehub.data.registry` (names -> loaders; the built-ins register on
first use) and :mod:`finehub.data.readers` (files, DataFrames and folders -> Dataset, where the
label rules are described). Code inside ``finehub.data`` imports those two, never this module.
"""

from __future__ import annotations

from finehub.data.dataset import Dataset, TextExample
from finehub.data.detection import DetectionDataset, DetectionExample, from_coco, from_voc, from_yolo
from finehub.data.image_datasets import image_folder
from finehub.data.readers import decode, from_csv, from_folder, from_jsonl, from_pandas, from_tsv
from finehub.data.registry import list_datasets, load, register_dataset

__all__ = [
    "Dataset",
    "DetectionDataset",
    "DetectionExample",
    "TextExample",
    "decode",
    "from_coco",
    "from_csv",
    "from_folder",
    "from_jsonl",
    "from_pandas",
    "from_tsv",
    "from_voc",
    "from_yolo",
    "image_folder",
    "list_datasets",
    "load",
    "register_dataset",
]
