"""Image datasets: a folder per class, read into :class:`~finehub.data.dataset.Dataset` of
:class:`~finehub.data.examples_extra.ImageExample`.

    from finehub.data.image_datasets import image_folder
    ds = image_folder("photos/")                       # photos/<class>/*.jpg
    ds = image_folder("photos/", split_ratio=(0.8, 0.1, 0.1))
    ds = image_folder("split/")                        # split/{train,dev,test}/<class>/*.png

Examples hold file paths; images are decoded when a batch needs them, so a folder of large
photos costs no memory up front. Classes are the sorted sub-folder names of ``train`` (or of the
folder itself), unless ``label_names`` fixes them; a dev/test class not in train is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from finehub.data.dataset import SPLITS, Dataset, split_examples
from finehub.data.examples_extra import ImageExample
from finehub.data.readers import visible_dirs
from finehub.errors import ConfigError, DataFormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def image_folder(
    path: str | Path,
    *,
    label_names: Sequence[str] | None = None,
    split_ratio: Sequence[float] | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Dataset:
    """A classification dataset from ``path/<class>/<image>`` or ``path/<split>/<class>/<image>``.

    ``split_ratio`` ((train, dev) or (train, dev, test) fractions) deals a single class-folder
    tree into splits, stratified and fixed by ``seed``.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError("path", f"{str(folder)!r} is not a folder")
    subdirs = visible_dirs(folder)
    if not subdirs:
        raise DataFormatError(str(folder), "no class sub-folders (one per class, holding images)")
    if {d.name for d in subdirs} <= set(SPLITS):
        if split_ratio is not None:
            raise ConfigError(
                "split_ratio", f"{folder} is already split into {[d.name for d in subdirs]}; drop split_ratio"
            )
        trees = {d.name: _read_classes(d) for d in subdirs}
        if "train" not in trees:
            raise DataFormatError(str(folder), "has dev/test sub-folders but no train/ sub-folder")
    else:
        trees = {"train": _read_classes(folder)}
    names = list(label_names) if label_names is not None else sorted(trees["train"])
    if len(set(names)) != len(names):
        raise ConfigError("label_names", f"has duplicates: {names}")
    index = {n: i for i, n in enumerate(names)}
    splits: dict[str, list[ImageExample]] = {}
    for split, classes in trees.items():
        unknown = sorted(set(classes) - set(index))
        if unknown:
            raise DataFormatError(
                str(folder / split if split != "train" or len(trees) > 1 else folder),
                f"class folder(s) {unknown} are not among the classes {names}; "
                "add them to train (or to label_names=[...])",
            )
        splits[split] = [ImageExample(p, index[c]) for c in sorted(classes) for p in classes[c]]
    if split_ratio is not None:
        values = [float(v) for v in split_ratio]
        if len(values) not in (2, 3):
            raise ConfigError(
                "split_ratio", f"give (train, dev) or (train, dev, test) fractions, got {values}"
            )
        splits = split_examples(splits["train"], dict(zip(SPLITS, values, strict=False)), seed=seed)  # type: ignore[arg-type]
    return Dataset(name or folder.resolve().name, splits, names)


def _read_classes(folder: Path) -> dict[str, list[Path]]:
    classes: dict[str, list[Path]] = {}
    dirs = visible_dirs(folder)
    if not dirs:
        raise DataFormatError(str(folder), "no class sub-folders (one per class, holding images)")
    for class_dir in dirs:
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataFormatError(
                str(class_dir), f"no images in this class folder (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        classes[class_dir.name] = files
    return classes
