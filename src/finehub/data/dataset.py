"""In-memory text datasets: examples, splits, and deterministic stratified sampling.

A :class:`Dataset` is a name, a label vocabulary and up to three splits (``train``, ``dev``,
``test``) of :class:`TextExample`. Labels are already encoded: a class index for classification,
a float for regression, a sorted tuple of class indices for multi-label, ``None`` when unlabeled
(and always for detection, whose examples carry boxes: :mod:`finehub.data.detection`).
Everything random here (splits, subsets) takes a seed and gives the same result on every machine.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from finehub.errors import ConfigError, SplitNotFoundError

SPLITS = ("train", "dev", "test")
TASKS = ("classification", "regression", "multilabel", "detection")
Task = Literal["classification", "regression", "multilabel", "detection"]
Label = int | float | tuple[int, ...] | None

# subset() with no sizes: enough to exercise a pipeline end to end in seconds
DEFAULT_SUBSET_SIZES = {"train": 256, "dev": 64, "test": 64}


@dataclass(frozen=True)
class TextExample:
    text_a: str
    label: Label
    text_b: str | None = None


class Dataset:
    """Named splits of text examples sharing one label vocabulary (``label_names[i]`` names class ``i``)."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Sequence[TextExample]],
        label_names: Sequence[str] = (),
        *,
        task: Task = "classification",
    ):
        if task not in TASKS:
            raise ConfigError("task", f"{task!r} is not one of {', '.join(TASKS)}")
        unknown = [s for s in splits if s not in SPLITS]
        if unknown:
            raise ConfigError("splits", f"unknown split name(s) {unknown}; use {', '.join(SPLITS)}")
        if task == "regression" and label_names:
            raise ConfigError("label_names", "a regression dataset has no label names; pass label_names=()")
        self.name = name
        self.task: Task = task
        self.label_names = list(label_names)
        self.splits: dict[str, list[TextExample]] = {s: list(splits[s]) for s in SPLITS if s in splits}
        for split, examples in self.splits.items():
            if not examples:
                raise ConfigError(f"splits[{split!r}]", "is empty; leave the split out instead")
            for i, ex in enumerate(examples):
                self._check_label(ex.label, f"{name}[{split!r}][{i}].label")

    def _check_label(self, label: Label, where: str) -> None:
        if label is None:
            return
        n = len(self.label_names)
        if self.task == "classification":
            ok = isinstance(label, int) and not isinstance(label, bool) and 0 <= label < n
        elif self.task == "multilabel":
            ok = isinstance(label, tuple) and all(isinstance(i, int) and 0 <= i < n for i in label)
        elif self.task == "regression":
            ok = isinstance(label, (int, float)) and not isinstance(label, bool) and math.isfinite(label)
        else:  # detection: boxes and their classes live on the example, checked by DetectionDataset
            ok = False
        if not ok:
            expected = {
                "classification": f"a class index in [0, {n})",
                "multilabel": f"a tuple of class indices in [0, {n})",
                "regression": "a finite number",
                "detection": "None (a detection example carries boxes, not one label)",
            }[self.task]
            raise ConfigError(where, f"{label!r} is not {expected}")

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def num_labels(self) -> int:
        """PaddleHub's name for :attr:`num_classes`."""
        return self.num_classes

    def __getitem__(self, split: str) -> list[TextExample]:
        if split not in self.splits:
            raise SplitNotFoundError(self.name, split, list(self.splits))
        return self.splits[split]

    def __contains__(self, split: object) -> bool:
        return split in self.splits

    @property
    def train(self) -> list[TextExample]:
        return self["train"]

    @property
    def dev(self) -> list[TextExample]:
        return self["dev"]

    @property
    def test(self) -> list[TextExample]:
        return self["test"]

    def subset(self, split_sizes: Mapping[str, int] | None = None, *, seed: int = 0) -> Dataset:
        """A smaller copy: each named split cut to at most its size, keeping class proportions.

        Splits not named are kept whole; ``None`` means :data:`DEFAULT_SUBSET_SIZES`. The kept
        examples stay in their original order, and the same seed always keeps the same ones.
        """
        sizes = dict(DEFAULT_SUBSET_SIZES) if split_sizes is None else dict(split_sizes)
        for split, size in sizes.items():
            if split_sizes is not None and split not in self.splits:
                raise SplitNotFoundError(self.name, split, list(self.splits))
            if not isinstance(size, int) or size < 1:
                raise ConfigError(f"split_sizes[{split!r}]", f"must be a positive int, got {size!r}")
        new: dict[str, list[TextExample]] = {}
        for split, examples in self.splits.items():
            size = sizes.get(split)
            if size is None or size >= len(examples):
                new[split] = list(examples)
                continue
            (keep,) = stratified_split(examples, [size], seed=seed)
            picked = set(keep)
            new[split] = [ex for i, ex in enumerate(examples) if i in picked]
        return Dataset(self.name, new, self.label_names, task=self.task)

    def summary(self) -> dict[str, Any]:
        """Sizes and label distribution of each split, as plain JSON-able values."""
        splits: dict[str, Any] = {}
        for split, examples in self.splits.items():
            info: dict[str, Any] = {"size": len(examples)}
            labels = [ex.label for ex in examples if ex.label is not None]
            if self.task == "regression" and labels:
                info["label_min"], info["label_max"] = min(labels), max(labels)  # type: ignore[type-var]
                info["label_mean"] = sum(labels) / len(labels)  # type: ignore[arg-type]
            elif labels:
                counts: Counter[int] = Counter()
                for label in labels:
                    counts.update(label if isinstance(label, tuple) else (label,))  # type: ignore[arg-type]
                info["labels"] = {name: counts[i] for i, name in enumerate(self.label_names)}
            splits[split] = info
        return {
            "name": self.name,
            "task": self.task,
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "splits": splits,
        }

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(v)}" for s, v in self.splits.items())
        return f"Dataset({self.name!r}, {self.task}, num_classes={self.num_classes}, {sizes})"


def stratified_split(
    examples: Sequence[TextExample], sizes: Sequence[int | float], *, seed: int = 0
) -> list[list[int]]:
    """Indices of ``examples`` dealt into parts of exactly the given sizes, classes spread evenly.

    ``sizes`` are counts (ints, summing to at most ``len(examples)``) or fractions (floats summing
    to 1). A class is the label (the whole tuple for multi-label; regression and unlabeled data
    form one group). Each class is shuffled with ``seed``; each part takes from every class in
    proportion to what is left (largest remainder), then is shuffled itself. Deterministic for a
    given input order and seed.
    """
    part_sizes = _part_sizes(sizes, len(examples))
    rng = random.Random(seed)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[None if isinstance(ex.label, float) else ex.label].append(i)
    keys = sorted(groups, key=repr)
    for key in keys:
        rng.shuffle(groups[key])
    taken = dict.fromkeys(keys, 0)
    parts: list[list[int]] = []
    for size in part_sizes:
        left = [len(groups[k]) - taken[k] for k in keys]
        part: list[int] = []
        for key, count in zip(keys, _largest_remainder(size, left), strict=True):
            part.extend(groups[key][taken[key] : taken[key] + count])
            taken[key] += count
        rng.shuffle(part)
        parts.append(part)
    return parts


def split_examples(
    examples: Sequence[TextExample], ratios: Mapping[str, float], *, seed: int = 0
) -> dict[str, list[TextExample]]:
    """Deal ``examples`` into named splits by fraction (e.g. ``{"train": .8, "dev": .1, "test": .1}``).

    Stratified and deterministic (see :func:`stratified_split`); a split that would be empty is a
    ConfigError rather than a silently missing split.
    """
    unknown = [s for s in ratios if s not in SPLITS]
    if unknown:
        raise ConfigError("split_ratio", f"unknown split name(s) {unknown}; use {', '.join(SPLITS)}")
    names = [s for s in SPLITS if s in ratios]
    parts = stratified_split(examples, [float(ratios[s]) for s in names], seed=seed)
    for split, part in zip(names, parts, strict=True):
        if not part:
            raise ConfigError(
                "split_ratio",
                f"gives an empty {split!r} split for {len(examples)} examples; raise its fraction",
            )
    return {split: [examples[i] for i in part] for split, part in zip(names, parts, strict=True)}


def _part_sizes(sizes: Sequence[int | float], total: int) -> list[int]:
    if not sizes or any(s <= 0 for s in sizes):
        raise ConfigError("sizes", f"every size must be positive, got {list(sizes)}")
    if all(isinstance(s, int) for s in sizes):
        if sum(sizes) > total:
            raise ConfigError("sizes", f"{list(sizes)} asks for {sum(sizes)} examples but only {total} exist")
        return [int(s) for s in sizes]
    if not math.isclose(sum(sizes), 1.0, abs_tol=1e-6):
        raise ConfigError("split_ratio", f"fractions must sum to 1, got {list(sizes)} (sum {sum(sizes):g})")
    return _largest_remainder(total, sizes)


def _largest_remainder(n: int, weights: Sequence[float]) -> list[int]:
    """Integers summing to ``n``, proportional to ``weights`` (ties go to earlier entries)."""
    weight_sum = sum(weights)
    if n == 0 or weight_sum == 0:
        return [0] * len(weights)
    exact = [n * w / weight_sum for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def deduplicate(examples: Sequence[TextExample]) -> tuple[list[TextExample], int, int]:
    """Keep the first occurrence of each text (pair); drop texts seen with different labels.

    Returns ``(kept, duplicates_dropped, conflicting_texts_dropped)``.
    """
    labels: dict[tuple[str, str | None], set[Label]] = defaultdict(set)
    for ex in examples:
        labels[(ex.text_a, ex.text_b)].add(ex.label)
    conflicting = {key for key, seen in labels.items() if len(seen) > 1}
    kept: list[TextExample] = []
    seen_keys: set[tuple[str, str | None]] = set()
    for ex in examples:
        key = (ex.text_a, ex.text_b)
        if key in conflicting or key in seen_keys:
            continue
        seen_keys.add(key)
        kept.append(ex)
    dropped_conflicts = sum(1 for ex in examples if (ex.text_a, ex.text_b) in conflicting)
    return kept, len(examples) - len(kept) - dropped_conflicts, len(conflicting)
