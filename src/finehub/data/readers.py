"""Reading datasets from your own files: delimited text, JSON Lines, DataFrames and folders.

Labels may be names or integers. Without ``label_names`` the classes are the sorted distinct
labels of the train split (sorted numerically when all are integers), and a dev/test label never
seen in train is an error. With ``label_names``, a label is looked up by name, or taken as an
index when it is an integer and no label name looks like one. ``task="regression"`` reads labels
as floats; ``task="multilabel"`` splits them on ``label_separator`` (JSON lists work too).

Every problem in the data raises :class:`~finehub.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finehub._utils.lazy import require
from finehub.data.dataset import SPLITS, TASKS, Dataset, Label, Task, TextExample, split_examples
from finehub.errors import ConfigError, DataFormatError

PathLike = str | Path
Column = str | int
Encoding = str | Sequence[str]
SplitRatio = Sequence[float] | Mapping[str, float]

FILE_FORMATS = (".tsv", ".csv", ".jsonl")


# --- loaders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    text: Column
    label: Column | None
    text_b: Column | None

    def required(self) -> list[Column]:
        return [c for c in (self.text, self.text_b, self.label) if c is not None]


@dataclass(frozen=True)
class _Row:
    """One example before its label is encoded, with where it came from for error messages."""

    where: str
    line: int | None
    text_a: str
    text_b: str | None
    label: Any


@dataclass(frozen=True)
class _LabelOptions:
    names: Sequence[str] | None
    task: Task
    separator: str
    labeled: bool  # False: the text is read without labels


def from_csv(
    path: PathLike | Mapping[str, PathLike],
    *,
    text_column: Column = "text_a",
    label_column: Column | None = "label",
    text_b_column: Column | None = None,
    label_names: Sequence[str] | None = None,
    delimiter: str = ",",
    has_header: bool = True,
    dev: PathLike | None = None,
    test: PathLike | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
    encoding: Encoding = "utf-8",
    task: Task = "classification",
    label_separator: str = "|",
    name: str | None = None,
) -> Dataset:
    """A dataset from delimited text files: ``path`` is the train file or ``{"train": ..., "dev": ...}``.

    Columns are header names, or 0-based positions when ``has_header=False``. With a tab
    delimiter quotes are plain characters (the TSV convention); otherwise CSV quoting applies.
    ``label_column=None`` reads unlabeled text. ``split_ratio`` (e.g. ``(0.8, 0.1, 0.1)``) deals
    a single file into train/dev/test, stratified by label and fixed by ``seed``. ``encoding``
    may list several encodings to try in turn.
    """
    if len(delimiter) != 1:
        raise ConfigError("delimiter", f"must be one character, got {delimiter!r}")
    columns = _columns(text_column, label_column, text_b_column, by_position=not has_header)
    files = _split_files(path, dev, test)
    rows = {
        split: _read_delimited(
            Path(file), columns, delimiter=delimiter, has_header=has_header, encoding=encoding
        )
        for split, file in files.items()
    }
    labels = _LabelOptions(label_names, task, label_separator, labeled=label_column is not None)
    return _assemble(name or _default_name(files), rows, labels, split_ratio=split_ratio, seed=seed)


def from_tsv(path: PathLike | Mapping[str, PathLike], **kwargs: Any) -> Dataset:
    """:func:`from_csv` with a tab delimiter and no quote processing (PaddleHub's format)."""
    return from_csv(path, delimiter="\t", **kwargs)


def from_jsonl(
    path: PathLike | Mapping[str, PathLike],
    *,
    text_column: str = "text_a",
    label_column: str | None = "label",
    text_b_column: str | None = None,
    label_names: Sequence[str] | None = None,
    dev: PathLike | None = None,
    test: PathLike | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
    encoding: Encoding = "utf-8",
    task: Task = "classification",
    label_separator: str = "|",
    name: str | None = None,
) -> Dataset:
    """A dataset from JSON Lines files (one object per line); see :func:`from_csv` for the options."""
    columns = _columns(text_column, label_column, text_b_column, by_position=False)
    files = _split_files(path, dev, test)
    rows = {split: _read_jsonl(Path(file), columns, encoding=encoding) for split, file in files.items()}
    labels = _LabelOptions(label_names, task, label_separator, labeled=label_column is not None)
    return _assemble(name or _default_name(files), rows, labels, split_ratio=split_ratio, seed=seed)


def from_pandas(
    df: Any,
    *,
    text_column: str = "text_a",
    label_column: str | None = "label",
    text_b_column: str | None = None,
    label_names: Sequence[str] | None = None,
    dev: Any = None,
    test: Any = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
    task: Task = "classification",
    label_separator: str = "|",
    name: str = "dataframe",
) -> Dataset:
    """A dataset from pandas DataFrames: ``df`` is the train frame or ``{"train": df, ...}``."""
    pd = require("pandas", extra="datasets", feature="from_pandas")
    columns = _columns(text_column, label_column, text_b_column, by_position=False)
    frames = _split_files(df, dev, test)
    rows = {}
    for split, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError(split, f"expected a pandas DataFrame, got {type(frame).__name__}")
        rows[split] = _read_frame(frame, f"DataFrame {split!r}", columns)
    labels = _LabelOptions(label_names, task, label_separator, labeled=label_column is not None)
    return _assemble(name, rows, labels, split_ratio=split_ratio, seed=seed)


def from_folder(
    path: PathLike,
    *,
    label_names: Sequence[str] | None = None,
    split_ratio: SplitRatio | None = None,
    seed: int = 0,
    encoding: Encoding = "utf-8",
    name: str | None = None,
    **file_options: Any,
) -> Dataset:
    """A dataset from a folder, in one of three layouts.

    - ``train.tsv`` (or ``.csv``, ``.jsonl``) with optional ``dev.*`` and ``test.*`` beside it;
      ``file_options`` (``text_column``, ``task``, ...) go to the matching loader.
    - one sub-folder per class holding ``.txt`` files, one example each (the train split;
      use ``split_ratio`` to carve out dev/test);
    - ``train/``, ``dev/``, ``test/`` sub-folders, each laid out as above.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError("path", f"{str(folder)!r} is not a folder")
    name = name or folder.resolve().name
    options: dict[str, Any] = {
        "label_names": label_names,
        "split_ratio": split_ratio,
        "seed": seed,
        "encoding": encoding,
        "name": name,
    }
    found = [ext for ext in FILE_FORMATS if (folder / f"train{ext}").is_file()]
    if len(found) > 1:
        raise ConfigError("path", f"{folder} holds {', '.join('train' + e for e in found)}; keep only one")
    if found:
        ext = found[0]
        files = {s: folder / f"{s}{ext}" for s in SPLITS if (folder / f"{s}{ext}").is_file()}
        loader = {".tsv": from_tsv, ".csv": from_csv, ".jsonl": from_jsonl}[ext]
        return loader(files, **options, **file_options)
    if file_options:
        raise ConfigError(
            ", ".join(file_options), "only applies to folders holding train.tsv, train.csv or train.jsonl"
        )
    subfolders = visible_dirs(folder)
    if subfolders and {d.name for d in subfolders} <= set(SPLITS):
        rows = {d.name: _read_class_folders(d, encoding) for d in subfolders}
    elif subfolders:
        rows = {"train": _read_class_folders(folder, encoding)}
    else:
        raise DataFormatError(
            str(folder),
            "found no train.tsv, train.csv or train.jsonl, and no sub-folders (one per class, holding .txt files)",
        )
    labels = _LabelOptions(label_names, "classification", "|", labeled=True)
    return _assemble(name, rows, labels, split_ratio=split_ratio, seed=seed)


# --- readers -----------------------------------------------------------------------------------


def decode(data: bytes, where: str, encoding: Encoding = "utf-8") -> str:
    """``data`` decoded by the first encoding that fits, minus a byte-order mark.

    Raises DataFormatError with the byte offset and line of the first undecodable byte.
    """
    encodings = [encoding] if isinstance(encoding, str) else list(encoding)
    first_error: UnicodeDecodeError | None = None
    for enc in encodings:
        try:
            return data.decode(enc).removeprefix("\ufeff")
        except LookupError as e:
            raise ConfigError("encoding", f"unknown encoding {enc!r}") from e
        except UnicodeDecodeError as e:
            first_error = first_error or e
    assert first_error is not None  # encodings is never empty here
    offset = first_error.start
    raise DataFormatError(
        where,
        f"cannot decode byte(s) {data[offset : first_error.end]!r} at byte offset {offset} as "
        f"{' or '.join(encodings)}; pass encoding=... with the file's encoding (e.g. 'gbk', 'latin-1')",
        line=data.count(b"\n", 0, offset) + 1,
    )


def _read_delimited(
    path: Path, columns: _Columns, *, delimiter: str, has_header: bool, encoding: Encoding
) -> list[_Row]:
    where = str(path)
    text = decode(_read_bytes(path), where, encoding)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    header: list[str] | None = None
    index: dict[Column, int] = {}
    width: int | None = None
    rows: list[_Row] = []
    last_line = 0
    try:
        for fields in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if has_header and header is None:
                header = [f.strip() for f in fields]
                index = _header_index(header, columns, where, line)
                width = len(header)
                continue
            if width is None:
                width = len(fields)
                index = _position_index(width, columns, where, line)
            if len(fields) != width:
                names = f" ({', '.join(header)})" if header else ""
                raise DataFormatError(
                    where,
                    f"expected {width} fields{names} separated by {delimiter!r}, found {len(fields)}",
                    line=line,
                )
            values = {col: fields[i] for col, i in index.items()}
            rows.append(_row(values, columns, where, line))
    except csv.Error as e:
        raise DataFormatError(where, f"malformed row: {e}", line=reader.line_num) from e
    if not rows:
        raise DataFormatError(
            where, "no examples: the file has a header but no rows" if header else "the file is empty"
        )
    return rows


def _header_index(header: list[str], columns: _Columns, where: str, line: int) -> dict[Column, int]:
    for col in columns.required():
        if col not in header:
            raise DataFormatError(
                where,
                f"no column {col!r}; the columns are: {', '.join(header)}. "
                "Pass text_column=, label_column= (and text_b_column=) naming the right ones",
                line=line,
            )
    return {col: header.index(col) for col in columns.required()}  # type: ignore[arg-type]


def _position_index(width: int, columns: _Columns, where: str, line: int) -> dict[Column, int]:
    for col in columns.required():
        if not 0 <= int(col) < width:
            raise DataFormatError(where, f"no column at position {col}; rows have {width} fields", line=line)
    return {col: int(col) for col in columns.required()}


def _read_jsonl(path: Path, columns: _Columns, *, encoding: Encoding) -> list[_Row]:
    where = str(path)
    text = decode(_read_bytes(path), where, encoding)
    rows: list[_Row] = []
    # split on "\n" only: str.splitlines() would also break on U+2028 inside JSON strings
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataFormatError(where, f"invalid JSON: {e.msg} at column {e.colno}", line=line) from e
        if not isinstance(obj, dict):
            raise DataFormatError(where, f"expected a JSON object, got {type(obj).__name__}", line=line)
        for col in columns.required():
            if col not in obj:
                raise DataFormatError(
                    where, f"no key {col!r}; this object has: {', '.join(obj) or 'no keys'}", line=line
                )
        rows.append(_row(obj, columns, where, line))
    if not rows:
        raise DataFormatError(where, "the file is empty")
    return rows


def _read_frame(frame: Any, where: str, columns: _Columns) -> list[_Row]:
    missing = [c for c in columns.required() if c not in frame.columns]
    if missing:
        raise DataFormatError(
            where, f"no column {missing[0]!r}; the columns are: {', '.join(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise DataFormatError(where, "no rows")
    cols = columns.required()
    rows = []
    for index, values in zip(frame.index, zip(*(frame[c].tolist() for c in cols), strict=True), strict=True):
        record = {c: (None if _is_missing(v) else v) for c, v in zip(cols, values, strict=True)}
        rows.append(_row(record, columns, f"{where} (row index {index!r})", None))
    return rows


def _read_class_folders(folder: Path, encoding: Encoding) -> list[_Row]:
    """Rows from ``folder/<class>/*.txt``: one file, one example, labeled by its folder's name."""
    rows: list[_Row] = []
    class_dirs = visible_dirs(folder)
    if not class_dirs:
        raise DataFormatError(str(folder), "no class sub-folders (one per class, holding .txt files)")
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
        if not files:
            raise DataFormatError(str(class_dir), "no .txt files in this class folder")
        for file in files:
            text = decode(_read_bytes(file), str(file), encoding).strip()
            if not text:
                raise DataFormatError(str(file), "empty text: the file holds only whitespace")
            rows.append(_Row(str(file), None, text, None, class_dir.name))
    return rows


def _row(values: Mapping[Column, Any], columns: _Columns, where: str, line: int | None) -> _Row:
    text_a = _text(values[columns.text], columns.text, where, line)
    text_b = None if columns.text_b is None else _text(values[columns.text_b], columns.text_b, where, line)
    label = None if columns.label is None else values[columns.label]
    return _Row(where, line, text_a, text_b, label)


def _text(value: Any, column: Column, where: str, line: int | None) -> str:
    if value is None:
        raise DataFormatError(where, f"empty text in column {column!r}", line=line)
    if not isinstance(value, str):
        raise DataFormatError(where, f"text in column {column!r} must be a string, got {value!r}", line=line)
    value = value.strip()
    if not value:
        raise DataFormatError(where, f"empty text in column {column!r}", line=line)
    return value


# --- assembling --------------------------------------------------------------------------------


def _assemble(
    name: str,
    rows: Mapping[str, list[_Row]],
    options: _LabelOptions,
    *,
    split_ratio: SplitRatio | None,
    seed: int,
) -> Dataset:
    if options.task not in TASKS:
        raise ConfigError("task", f"{options.task!r} is not one of {', '.join(TASKS)}")
    if options.task == "regression" and options.names:
        raise ConfigError("label_names", "a regression dataset has no label names; drop label_names")
    if options.names is not None and len(set(options.names)) != len(options.names):
        raise ConfigError("label_names", f"has duplicates: {list(options.names)}")
    names: list[str] = []
    if options.labeled and options.task != "regression":
        basis = rows.get("train") or [r for split_rows in rows.values() for r in split_rows]
        names = list(options.names) if options.names is not None else _infer_names(basis, options)
    encode = _LabelEncoder(names, options)
    splits = {
        split: [TextExample(r.text_a, encode(r) if options.labeled else None, r.text_b) for r in split_rows]
        for split, split_rows in rows.items()
    }
    if split_ratio is not None:
        if set(splits) != {"train"}:
            raise ConfigError(
                "split_ratio",
                f"deals one file into splits, but {', '.join(splits)} were given; drop one of the two",
            )
        splits = split_examples(splits["train"], _ratios(split_ratio), seed=seed)
    return Dataset(name, splits, names, task=options.task)


def _ratios(split_ratio: SplitRatio) -> dict[str, float]:
    if isinstance(split_ratio, Mapping):
        return {str(k): float(v) for k, v in split_ratio.items()}
    values = list(split_ratio)
    if len(values) not in (2, 3):
        raise ConfigError("split_ratio", f"give (train, dev) or (train, dev, test) fractions, got {values}")
    return {split: float(v) for split, v in zip(SPLITS, values, strict=False)}


_INT = re.compile(r"-?\d+")


def _keys(raw: Any, options: _LabelOptions) -> list[str]:
    """A raw label as the label-name strings it stands for (one, or several for multi-label)."""
    if options.task == "multilabel":
        items = (
            raw.split(options.separator) if isinstance(raw, str) else raw if isinstance(raw, list) else [raw]
        )
        return [k for k in (_key(item) for item in items if not _is_missing(item)) if k]
    return [_key(raw)]


def _key(raw: Any) -> str:
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return "" if _is_missing(raw) else str(raw).strip()


def _infer_names(rows: Iterable[_Row], options: _LabelOptions) -> list[str]:
    keys = {k for r in rows for k in _keys(r.label, options)} - {""}
    if keys and all(_INT.fullmatch(k) for k in keys):
        return sorted(keys, key=int)
    return sorted(keys)


class _LabelEncoder:
    """Raw labels -> Label, with errors that name the file, line and the known labels."""

    def __init__(self, names: Sequence[str], options: _LabelOptions):
        self.names = list(names)
        self.options = options
        self.index = {n: i for i, n in enumerate(self.names)}
        # integer labels double as indices unless a label name is itself an integer
        self.indices_allowed = not any(_INT.fullmatch(n) for n in self.names)

    def __call__(self, row: _Row) -> Label:
        if self.options.task == "regression":
            return self._number(row)
        keys = _keys(row.label, self.options)
        if self.options.task == "multilabel":
            return tuple(sorted({self._class(k, row) for k in keys}))
        if not keys[0]:
            raise DataFormatError(
                row.where,
                "empty label; every row needs one (label_column=None reads unlabeled text)",
                line=row.line,
            )
        return self._class(keys[0], row)

    def _class(self, key: str, row: _Row) -> int:
        if key in self.index:
            return self.index[key]
        if self.indices_allowed and _INT.fullmatch(key) and 0 <= int(key) < len(self.names):
            return int(key)
        known = ", ".join(self.names) or "none"
        as_index = f", or an index in [0, {len(self.names)})" if self.indices_allowed and self.names else ""
        raise DataFormatError(
            row.where,
            f"unknown label {key!r}; known labels: {known}{as_index}. Pass label_names=[...] listing every label",
            line=row.line,
        )

    def _number(self, row: _Row) -> float:
        raw = row.label
        try:
            value = float(raw) if not isinstance(raw, bool) and not _is_missing(raw) else math.nan
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise DataFormatError(
                row.where, f"label {raw!r} is not a finite number (task='regression')", line=row.line
            )
        return value


# --- small helpers -----------------------------------------------------------------------------


def _columns(text: Column, label: Column | None, text_b: Column | None, *, by_position: bool) -> _Columns:
    for field, col in (("text_column", text), ("label_column", label), ("text_b_column", text_b)):
        if col is None:
            continue
        if by_position and not (isinstance(col, int) and not isinstance(col, bool)):
            raise ConfigError(
                field, f"has_header=False: refer to columns by 0-based position (an int), got {col!r}"
            )
        if not by_position and not isinstance(col, str):
            raise ConfigError(field, f"refer to columns by name (a str), got {col!r}")
    if text is None:
        raise ConfigError("text_column", "is required")
    return _Columns(text, label, text_b)


def _split_files(source: Any, dev: Any, test: Any) -> dict[str, Any]:
    """``{"train": source, "dev": dev, "test": test}`` without the missing ones, or a given mapping."""
    if isinstance(source, Mapping):
        if dev is not None or test is not None:
            raise ConfigError(
                "dev/test", "conflicts with a mapping of splits; put every split in the mapping"
            )
        unknown = [s for s in source if s not in SPLITS]
        if unknown or not source:
            raise ConfigError("splits", f"use the split names {', '.join(SPLITS)}, got {list(source)}")
        return {s: source[s] for s in SPLITS if s in source}
    return {s: v for s, v in zip(SPLITS, (source, dev, test), strict=True) if v is not None}


def _default_name(files: Mapping[str, PathLike]) -> str:
    first = Path(next(iter(files.values())))
    return first.parent.resolve().name if first.stem in SPLITS else first.stem


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise DataFormatError(str(path), "no such file") from e
    except IsADirectoryError as e:
        raise DataFormatError(str(path), "is a folder, not a file (from_folder reads folders)") from e


def visible_dirs(folder: Path) -> list[Path]:
    """The sub-folders of ``folder``, sorted, without hidden (``.x``) or private (``_x``) ones."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
