"""Object-detection datasets: images with boxes, read from COCO, Pascal VOC or YOLO files.

    from finehub.data.detection import from_coco, from_voc, from_yolo
    ds = from_coco("instances.json", "images/")                      # one set, dealt 80/10/10
    ds = from_coco({"train": ("train.json", "train/"), "dev": ("val.json", "val/")})
    ds = from_voc("VOC2012/")              # Annotations/*.xml, JPEGImages/, ImageSets/Main/*.txt
    ds = from_yolo("data/", "data/data.yaml")    # images/ + labels/, or images/train, labels/train ...

A :class:`DetectionExample` holds an image (here its path; anything
:func:`finehub.imaging.images.load_image` accepts) and its boxes as ``x1 y1 x2 y2`` in the
image's own pixels, one class index each; no boxes is a valid example (a negative image).
Classes are ``0 .. K-1``: COCO category ids in id order, VOC class names sorted (or as given),
YOLO's own indices.

Each reader opens every image's header (its size, no pixel decode) to check the boxes against
it. A box may overshoot the image by at most :data:`BOX_TOLERANCE` pixel (it is clipped);
anything larger, a box with no area, an unknown class, a missing or unreadable image is a
:class:`~finehub.errors.DataFormatError` naming the file. A format's own splits (one COCO file per
split, VOC's ``ImageSets/Main``, YOLO's split folders) are kept; a single set is dealt into
train/dev/test by ``split_ratio`` with ``seed``, the same on every machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.lazy import require
from finehub.data.dataset import SPLITS, Dataset, split_examples
from finehub.data.image_datasets import IMAGE_SUFFIXES
from finehub.data.readers import SplitRatio, _ratios, visible_dirs
from finehub.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    import numpy as np

PathLike = str | Path

BOX_TOLERANCE = 1.0  # pixels a box may reach past the image edge (rounding in annotation tools)
DEFAULT_SPLIT_RATIO = (0.8, 0.1, 0.1)
# folder and key names formats use for their splits
SPLIT_ALIASES = {
    "train": "train",
    "dev": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "test": "test",
}


@dataclass(frozen=True, eq=False)
class DetectionExample:
    """One image and its objects: ``boxes`` (float32, M×4, ``x1 y1 x2 y2`` in the original
    image's pixels) and ``labels`` (int64, M class indices); lists are accepted and converted,
    and the arrays are read-only so examples can be shared (the built-in datasets are cached)."""

    image: Any
    boxes: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        import numpy as np

        boxes = np.array(self.boxes, dtype=np.float32)
        labels = np.array(self.labels, dtype=np.int64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ConfigError("boxes", f"must be M×4 (x1 y1 x2 y2), got shape {boxes.shape}")
        if labels.shape != (len(boxes),):
            raise ConfigError(
                "labels", f"must hold one class per box ({len(boxes)}), got shape {labels.shape}"
            )
        if not np.isfinite(boxes).all() or (boxes[:, 2:] <= boxes[:, :2]).any():
            raise ConfigError("boxes", "every box needs finite x1 < x2 and y1 < y2")
        boxes.setflags(write=False)
        labels.setflags(write=False)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "labels", labels)

    @property
    def label(self) -> None:
        """No image-level label: Dataset's label checks and stratification see an unlabeled example."""
        return None

    def __eq__(self, other: object) -> bool:
        import numpy as np

        if not isinstance(other, DetectionExample):
            return NotImplemented
        a, b = self.image, other.image
        same_image = (
            np.array_equal(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else a == b
        )
        return (
            bool(same_image)
            and np.array_equal(self.boxes, other.boxes)
            and np.array_equal(self.labels, other.labels)
        )

    __hash__ = None  # type: ignore[assignment]  # equal examples compare their arrays

    def __repr__(self) -> str:
        image = self.image
        shown = repr(str(image)) if isinstance(image, (str, Path)) else f"<{type(image).__name__}>"
        return f"DetectionExample(image={shown}, boxes={self.boxes.tolist()}, labels={self.labels.tolist()})"


class DetectionDataset(Dataset):
    """Named splits of :class:`DetectionExample` sharing one class list (``label_names[i]`` names
    class ``i``). ``note`` says where the data came from; ``repr`` shows it."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Sequence[DetectionExample]],
        label_names: Sequence[str],
        *,
        note: str = "",
    ):
        if not label_names:
            raise ConfigError("label_names", "a detection dataset needs its class names")
        if len(set(label_names)) != len(label_names):
            raise ConfigError("label_names", f"has duplicates: {list(label_names)}")
        n = len(label_names)
        for split, examples in splits.items():
            for i, ex in enumerate(examples):
                where = f"{name}[{split!r}][{i}]"
                if not isinstance(ex, DetectionExample):
                    raise ConfigError(where, f"expected a DetectionExample, got {type(ex).__name__}")
                if ex.labels.size and not (int(ex.labels.min()) >= 0 and int(ex.labels.max()) < n):
                    raise ConfigError(f"{where}.labels", f"{ex.labels.tolist()} are not all in [0, {n})")
        super().__init__(name, splits, label_names, task="detection")  # type: ignore[arg-type]
        self.note = note

    def subset(self, split_sizes: Mapping[str, int] | None = None, *, seed: int = 0) -> DetectionDataset:
        """As :meth:`Dataset.subset` (images drawn at random, a fixed choice for a given seed)."""
        smaller = super().subset(split_sizes, seed=seed)
        return DetectionDataset(self.name, smaller.splits, self.label_names, note=self.note)  # type: ignore[arg-type]

    def summary(self) -> dict[str, Any]:
        """Per split: images, images without boxes, and boxes per class."""
        out = super().summary()
        for split, examples in self.splits.items():
            counts: Counter[int] = Counter()
            for ex in examples:
                counts.update(ex.labels.tolist())  # type: ignore[attr-defined]
            out["splits"][split].update(
                empty_images=sum(1 for ex in examples if not len(ex.labels)),  # type: ignore[attr-defined]
                boxes={name: counts[i] for i, name in enumerate(self.label_names)},
            )
        if self.note:
            out["note"] = self.note
        return out

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(v)}" for s, v in self.splits.items())
        note = f"; {self.note}" if self.note else ""
        return f"DetectionDataset({self.name!r}, num_classes={self.num_classes}, {sizes}{note})"


# --- COCO --------------------------------------------------------------------------------------


def from_coco(
    annotations: PathLike | Mapping[str, PathLike | tuple[PathLike, PathLike]],
    images_dir: PathLike | None = None,
    *,
    name: str | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
) -> DetectionDataset:
    """A dataset from COCO instance annotations (read with pycocotools).

    ``annotations`` is one JSON file (images under ``images_dir``, default: the JSON's folder;
    dealt into splits by ``split_ratio``, default 80/10/10), or a mapping of split names
    (``train``, ``dev``/``val``, ``test``) to a JSON file or a ``(json, images_dir)`` pair.
    Categories become classes ``0 .. K-1`` in id order (every file must list the same ones);
    ``iscrowd`` annotations are left out; COCO's ``[x, y, w, h]`` becomes ``x1 y1 x2 y2``.
    """
    if isinstance(annotations, Mapping):
        if images_dir is not None:
            raise ConfigError(
                "images_dir", "give each split's folder in the mapping: {'train': (json, folder)}"
            )
        files = {split: _json_and_dir(value) for split, value in _split_keys(annotations).items()}
    else:
        files = {"train": (Path(annotations).expanduser(), images_dir)}
    names: list[str] | None = None
    first = ""
    sets: dict[str, list[DetectionExample]] = {}
    for split, (path, folder) in files.items():
        split_names, sets[split] = _read_coco(
            path, Path(folder).expanduser() if folder is not None else path.parent
        )
        if names is None:
            names, first = split_names, str(path)
        elif split_names != names:
            raise DataFormatError(str(path), f"its categories {split_names} differ from {first}'s {names}")
    default_name = Path(files["train"][0]).stem if "train" in files else "coco"
    source = ", ".join(str(path) for path, _ in files.values())
    return _assemble(
        name or default_name, sets, names or [], isinstance(annotations, Mapping), split_ratio, seed, source
    )


def _json_and_dir(value: PathLike | tuple[PathLike, PathLike]) -> tuple[Path, PathLike | None]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConfigError(
                "annotations", f"a split takes a JSON file or (json, images_dir), got {value!r}"
            )
        return Path(value[0]).expanduser(), value[1]
    return Path(value).expanduser(), None


def _read_coco(path: Path, images_dir: Path) -> tuple[list[str], list[DetectionExample]]:
    coco_module = require("pycocotools.coco", package="pycocotools", extra="detection", feature="from_coco")
    if not path.is_file():
        raise ConfigError("annotations", f"{str(path)!r} is not a file")
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(str(path), f"is not valid JSON ({e})") from e
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise DataFormatError(
            str(path), "is not COCO instances JSON: it needs 'images' and 'categories' lists"
        )
    data.setdefault("annotations", [])
    coco = coco_module.COCO()
    coco.dataset = data
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            coco.createIndex()
    except (KeyError, TypeError) as e:
        raise DataFormatError(str(path), f"malformed COCO JSON: an entry lacks {e}") from e
    category_ids = sorted(coco.cats)
    index = {cid: i for i, cid in enumerate(category_ids)}
    names = [str(coco.cats[cid].get("name", cid)) for cid in category_ids]
    orphans = sorted(set(coco.imgToAnns) - set(coco.imgs))
    if orphans:
        raise DataFormatError(str(path), f"annotations refer to image ids not in 'images': {orphans[:5]}")
    examples = []
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        file = images_dir / str(info.get("file_name", ""))
        width, height = image_size(file, listed_in=path)
        stated = (info.get("width"), info.get("height"))
        if all(stated) and stated != (width, height):
            raise DataFormatError(
                str(path),
                f"image {file.name}: the JSON says {stated[0]}×{stated[1]}, the file is {width}×{height}",
            )
        boxes, labels = [], []
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("iscrowd"):
                continue
            what = f"image {file.name}, annotation {ann.get('id')}"
            cid = ann.get("category_id")
            if cid not in index:
                raise DataFormatError(
                    str(path), f"{what}: category_id {cid!r} is not among the categories {category_ids}"
                )
            bbox = ann.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
                raise DataFormatError(str(path), f"{what}: bbox {bbox!r} is not [x, y, width, height]")
            x, y, w, h = (float(v) for v in bbox)
            boxes.append(fit_box((x, y, x + w, y + h), width, height, str(path), what))
            labels.append(index[cid])
        examples.append(DetectionExample(file, boxes, labels))
    return names, examples


# --- Pascal VOC --------------------------------------------------------------------------------


def from_voc(
    folder: PathLike,
    *,
    label_names: Sequence[str] | None = None,
    keep_difficult: bool = True,
    name: str | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
) -> DetectionDataset:
    """A dataset from a Pascal VOC folder: ``Annotations/*.xml`` and ``JPEGImages/``.

    ``ImageSets/Main/{train,val,test}.txt``, when ``train.txt`` is there, give the splits (val
    becomes dev); otherwise every annotation file is dealt by ``split_ratio`` (default 80/10/10).
    Classes are the sorted object names unless ``label_names`` fixes them (then any other name
    is an error). VOC's 1-based pixel corners become ``x1 = xmin - 1``, ``x2 = xmax`` (and so for
    y), which covers the annotated pixels exactly. Objects marked ``difficult`` are kept by
    default, as most training recipes do; ``keep_difficult=False`` leaves them out.
    """
    root = Path(folder).expanduser()
    annotations = root / "Annotations"
    if not annotations.is_dir():
        raise ConfigError("folder", f"{str(root)!r} has no Annotations/ folder (Pascal VOC layout)")
    lists = root / "ImageSets" / "Main"
    presplit = (lists / "train.txt").is_file()
    if presplit:
        ids = {
            split: _read_ids(lists / f"{file}.txt")
            for split, file in (("train", "train"), ("dev", "val"), ("test", "test"))
            if (lists / f"{file}.txt").is_file()
        }
        xmls = {split: [annotations / f"{i}.xml" for i in split_ids] for split, split_ids in ids.items()}
    else:
        xmls = {"train": sorted(annotations.glob("*.xml"))}
        if not xmls["train"]:
            raise DataFormatError(str(annotations), "holds no .xml annotation files")
    parsed = {
        split: [_read_voc_xml(x, root / "JPEGImages", keep_difficult) for x in files]
        for split, files in xmls.items()
    }
    if label_names is None:
        names = sorted({obj for objs in parsed.values() for _, _, found in objs for obj in found})
        if not names:
            raise DataFormatError(str(annotations), "holds no objects, so no classes; pass label_names=[...]")
    else:
        names = list(label_names)
    index = {n: i for i, n in enumerate(names)}
    sets: dict[str, list[DetectionExample]] = {}
    for split, items in parsed.items():
        sets[split] = []
        for (image, boxes, found), xml in zip(items, xmls[split], strict=True):
            unknown = [n for n in found if n not in index]
            if unknown:
                raise DataFormatError(
                    str(xml), f"object class {unknown[0]!r} is not among label_names {names}"
                )
            sets[split].append(DetectionExample(image, boxes, [index[n] for n in found]))
    return _assemble(name or root.resolve().name, sets, names, presplit, split_ratio, seed, str(lists))


def _read_ids(path: Path) -> list[str]:
    """Image ids of an ImageSets list: the first word of each line (class lists add ``-1``/``1``)."""
    return [line.split()[0] for line in path.read_text("utf-8").splitlines() if line.strip()]


def _read_voc_xml(
    xml: Path, images: Path, keep_difficult: bool
) -> tuple[Path, list[tuple[float, float, float, float]], list[str]]:
    """The image path, boxes and class names of one VOC annotation file."""
    from xml.etree import ElementTree

    if not xml.is_file():
        raise DataFormatError(str(xml), "annotation file not found (listed in ImageSets/Main)")
    try:
        root = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as e:
        raise DataFormatError(str(xml), f"is not valid XML ({e})") from e
    image = images / (root.findtext("filename") or f"{xml.stem}.jpg").strip()
    width, height = image_size(image, listed_in=xml)
    stated = (_int_or_zero(root.findtext("size/width")), _int_or_zero(root.findtext("size/height")))
    if all(stated) and stated != (width, height):
        raise DataFormatError(
            str(xml), f"<size> says {stated[0]}×{stated[1]}, {image.name} is {width}×{height}"
        )
    boxes, names = [], []
    for k, obj in enumerate(root.iter("object")):
        what = f"object {k}"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise DataFormatError(str(xml), f"{what} has no <name>")
        if not keep_difficult and _int_or_zero(obj.findtext("difficult")) == 1:
            continue
        corners = [obj.findtext(f"bndbox/{c}") for c in ("xmin", "ymin", "xmax", "ymax")]
        if not all(c is not None and _is_number(c) for c in corners):
            raise DataFormatError(str(xml), f"{what} ({name}): <bndbox> needs numeric xmin, ymin, xmax, ymax")
        xmin, ymin, xmax, ymax = (float(c) for c in corners)  # type: ignore[arg-type]
        boxes.append(fit_box((xmin - 1, ymin - 1, xmax, ymax), width, height, str(xml), f"{what} ({name})"))
        names.append(name)
    return image, boxes, names


# --- YOLO --------------------------------------------------------------------------------------


def from_yolo(
    folder: PathLike,
    names: Sequence[str] | PathLike,
    *,
    name: str | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
) -> DetectionDataset:
    """A dataset from a YOLO folder: ``images/`` and ``labels/`` side by side, each optionally
    split into ``train``/``val``/``test`` sub-folders (or ``train/images``, ``train/labels``, ...).

    A label file (same relative path as its image, ``.txt``) holds one ``class cx cy w h`` line per
    object, normalised to the image size; an image without one has no objects. ``names`` is the
    class list, or a file holding it: a ``data.yaml`` (``names:`` as a list or an index mapping)
    or a text file with one name per line (``classes.txt``). A folder without split sub-folders
    is dealt by ``split_ratio`` (default 80/10/10).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError("folder", f"{str(root)!r} is not a folder")
    class_names = _yolo_names(names)
    pairs, presplit = _yolo_layout(root)
    sets = {split: _read_yolo_set(images, labels, class_names) for split, (images, labels) in pairs.items()}
    return _assemble(name or root.resolve().name, sets, class_names, presplit, split_ratio, seed, str(root))


def _yolo_names(names: Sequence[str] | PathLike) -> list[str]:
    if not isinstance(names, (str, Path)):
        return [str(n) for n in names]
    path = Path(names).expanduser()
    if not path.is_file():
        raise ConfigError(
            "names", f"{str(path)!r} is not a file; pass the class names or a data.yaml/classes.txt"
        )
    text = path.read_text("utf-8")
    if path.suffix.lower() not in (".yaml", ".yml"):
        return [line.strip() for line in text.splitlines() if line.strip()]
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DataFormatError(str(path), f"is not valid YAML ({e})") from e
    found = data.get("names") if isinstance(data, dict) else None
    if isinstance(found, dict) and sorted(found) == list(range(len(found))):
        return [str(found[i]) for i in range(len(found))]
    if isinstance(found, list) and found:
        return [str(n) for n in found]
    raise DataFormatError(
        str(path), "needs 'names:' as a list of class names or a mapping 0: name, 1: name, ..."
    )


def _yolo_layout(root: Path) -> tuple[dict[str, tuple[Path, Path]], bool]:
    """(images folder, labels folder) per split, and whether the folder was split at all."""
    if (root / "images").is_dir():
        subdirs = visible_dirs(root / "images")
        if not subdirs or not all(d.name in SPLIT_ALIASES for d in subdirs):
            return {"train": (root / "images", root / "labels")}, False
        found = {d.name: (d, root / "labels" / d.name) for d in subdirs}
    else:
        found = {d.name: (d / "images", d / "labels") for d in visible_dirs(root) if d.name in SPLIT_ALIASES}
        if not found:
            raise DataFormatError(
                str(root), "has no images/ folder (nor train/images, val/images, ...): not a YOLO layout"
            )
    return _split_keys(found), True


def _read_yolo_set(images: Path, labels: Path, names: list[str]) -> list[DetectionExample]:
    files = sorted(p for p in images.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFormatError(str(images), f"holds no images ({', '.join(IMAGE_SUFFIXES)})")
    examples = []
    for image in files:
        width, height = image_size(image, listed_in=images)
        label_file = labels / image.relative_to(images).with_suffix(".txt")
        boxes, classes = [], []
        lines = label_file.read_text("utf-8").splitlines() if label_file.is_file() else []
        for line_no, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5 or not all(_is_number(f) for f in fields):
                raise DataFormatError(
                    str(label_file), f"expected 'class cx cy w h' (5 numbers), got {line!r}", line=line_no
                )
            cls = float(fields[0])
            if not cls.is_integer() or not 0 <= cls < len(names):
                raise DataFormatError(
                    str(label_file),
                    f"class {fields[0]} is not an index in [0, {len(names)}) ({len(names)} names)",
                    line=line_no,
                )
            cx, cy, w, h = (float(f) for f in fields[1:])
            box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
            boxes.append(fit_box(box, width, height, f"{label_file}, line {line_no}", f"{image.name}"))
            classes.append(int(cls))
        examples.append(DetectionExample(image, boxes, classes))
    return examples


# --- shared ------------------------------------------------------------------------------------


def image_size(path: Path, *, listed_in: PathLike) -> tuple[int, int]:
    """(width, height) of an image file from its header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataFormatError(str(path), f"image file not found (listed in {listed_in})")
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise DataFormatError(str(path), f"is not a readable image ({e.__class__.__name__}: {e})") from e


def fit_box(
    box: Sequence[float], width: int, height: int, source: str, what: str
) -> tuple[float, float, float, float]:
    """``box`` (x1 y1 x2 y2) checked against a ``width``×``height`` image: an overshoot of at most
    :data:`BOX_TOLERANCE` pixel is clipped; a larger one, or no area, is a DataFormatError."""
    x1, y1, x2, y2 = (float(v) for v in box)
    shown = f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]"
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise DataFormatError(source, f"{what}: box {shown} (x1 y1 x2 y2) has no area")
    over = max(-x1, -y1, x2 - width, y2 - height)
    clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height)))
    if over > BOX_TOLERANCE or clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise DataFormatError(
            source, f"{what}: box {shown} (x1 y1 x2 y2) lies {over:g} px outside the {width}×{height} image"
        )
    return clipped


def _assemble(
    name: str,
    sets: dict[str, list[DetectionExample]],
    names: list[str],
    presplit: bool,
    split_ratio: SplitRatio | None,
    seed: int,
    source: str,
) -> DetectionDataset:
    """The dataset: a format's own splits kept (empty dev/test left out), or one set dealt."""
    if presplit:
        if split_ratio is not None:
            raise ConfigError(
                "split_ratio", f"{source} already gives the splits {', '.join(sets)}; drop split_ratio"
            )
        if not sets.get("train"):
            raise DataFormatError(
                source, f"gives the splits {', '.join(sets)} but no (non-empty) train split"
            )
        splits = {s: sets[s] for s in SPLITS if sets.get(s)}
    else:
        ratios = _ratios(split_ratio if split_ratio is not None else DEFAULT_SPLIT_RATIO)
        splits = split_examples(sets["train"], ratios, seed=seed)  # type: ignore[arg-type]
    return DetectionDataset(name, splits, names)  # type: ignore[arg-type]


def _split_keys(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` keyed by finehub's split names (``val``, ``valid`` -> ``dev``)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        split = SPLIT_ALIASES.get(str(key).lower())
        if split is None or split in out:
            raise ConfigError("splits", f"split names are train, dev (or val), test; got {list(mapping)}")
        out[split] = value
    return out


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _int_or_zero(text: str | None) -> int:
    try:
        return int(float(text)) if text is not None else 0
    except ValueError:
        return 0
