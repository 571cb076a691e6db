"""Dataset loaders on files built here, their errors, the registry, splitting, and downloads."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from support import serve_folder

import finehub as hub
from finehub import errors
from finehub.data import datasets
from finehub.data import registry as registry_mod
from finehub.data.dataset import Dataset, TextExample, stratified_split
from finehub.data.download import fetch


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def reviews(n: int = 30) -> list[tuple[int, str]]:
    """``n`` labelled rows, two-thirds negative, each text distinct."""
    return [(0 if i % 3 else 1, f"review number {i} {'good' if i % 3 == 0 else 'bad'}") for i in range(n)]


def tsv(rows: list[tuple[int, str]]) -> str:
    return "label\ttext_a\n" + "".join(f"{label}\t{text}\n" for label, text in rows)


# --- loaders ----------------------------------------------------------------------------------


def test_from_tsv_reads_paddlehub_layout_and_is_reachable_from_the_package(tmp_path: Path) -> None:
    write(tmp_path / "train.tsv", tsv(reviews(9)))
    write(tmp_path / "dev.tsv", tsv([(1, 'he said "great" and left'), (0, "meh")]))
    ds = hub.datasets.from_tsv(tmp_path / "train.tsv", dev=tmp_path / "dev.tsv")
    assert ds.name == tmp_path.name
    assert ds.label_names == ["0", "1"] and ds.num_classes == 2
    assert len(ds.train) == 9 and ds.train[0] == TextExample("review number 0 good", 1)
    # tabs separate, quotes are plain characters in TSV
    assert ds.dev[0].text_a == 'he said "great" and left'
    assert set(ds.splits) == {"train", "dev"}
    with pytest.raises(errors.SplitNotFoundError, match=r"no 'test' split; it has: train, dev"):
        _ = ds.test


def test_from_csv_quoting_pairs_names_and_index_labels(tmp_path: Path) -> None:
    write(
        tmp_path / "pairs.csv",
        'q,a,y\n"Is it, really, good?","Yes, ""very"" good",match\n'
        'Where is it?,"line one\nline two",other\nWhat?,Nothing,match\n',
    )
    ds = datasets.from_csv(tmp_path / "pairs.csv", text_column="q", text_b_column="a", label_column="y")
    assert ds.name == "pairs" and ds.label_names == ["match", "other"]
    assert ds.train[0] == TextExample("Is it, really, good?", 0, 'Yes, "very" good')
    assert ds.train[1].text_b == "line one\nline two"
    # with label_names given, integers are indices into them
    write(tmp_path / "idx.csv", "text_a,label\nawful,0\nsuperb,1\n")
    ds = datasets.from_csv(tmp_path / "idx.csv", label_names=["negative", "positive"])
    assert [ex.label for ex in ds.train] == [0, 1] and ds.label_names == ["negative", "positive"]


def test_integer_labels_sort_numerically_and_headerless_columns_are_positions(tmp_path: Path) -> None:
    rows = [(label, f"text {i}") for i, label in enumerate([10, 2, 9, 2, 10])]
    write(tmp_path / "data.tsv", "".join(f"{text}\t{label}\n" for label, text in rows))
    ds = datasets.from_tsv(tmp_path / "data.tsv", has_header=False, text_column=0, label_column=1)
    assert ds.label_names == ["2", "9", "10"]
    assert [ds.label_names[ex.label] for ex in ds.train] == ["10", "2", "9", "2", "10"]
    with pytest.raises(errors.ConfigError, match="0-based position"):
        datasets.from_tsv(tmp_path / "data.tsv", has_header=False)


def test_split_ratio_is_stratified_deterministic_and_disjoint(tmp_path: Path) -> None:
    write(tmp_path / "all.tsv", tsv(reviews(100)))
    ds = datasets.from_tsv(tmp_path / "all.tsv", split_ratio=(0.8, 0.1, 0.1), seed=3)
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 80, "dev": 10, "test": 10}
    # 34 positives of 100: each split keeps about a third
    assert [sum(ex.label for ex in ds[s]) for s in ("train", "dev", "test")] in (
        [27, 4, 3],
        [27, 3, 4],
        [28, 3, 3],
    )
    texts = [ex.text_a for s in ds.splits for ex in ds[s]]
    assert len(set(texts)) == 100
    again = datasets.from_tsv(
        tmp_path / "all.tsv", split_ratio={"train": 0.8, "dev": 0.1, "test": 0.1}, seed=3
    )
    assert again.splits == ds.splits
    other = datasets.from_tsv(tmp_path / "all.tsv", split_ratio=(0.8, 0.1, 0.1), seed=4)
    assert other.dev != ds.dev
    with pytest.raises(errors.ConfigError, match="split_ratio"):
        datasets.from_tsv(tmp_path / "all.tsv", dev=tmp_path / "all.tsv", split_ratio=(0.9, 0.1))
    with pytest.raises(errors.ConfigError, match="sum to 1"):
        datasets.from_tsv(tmp_path / "all.tsv", split_ratio=(8, 1, 1))
    with pytest.raises(errors.ConfigError, match="empty 'test' split"):
        datasets.from_tsv(tmp_path / "all.tsv", split_ratio=(0.98, 0.015, 0.005))


def test_regression_and_multilabel(tmp_path: Path) -> None:
    write(tmp_path / "sts.csv", "text_a,text_b,label\na cat,a feline,4.5\na car,a banana,0.25\n")
    ds = datasets.from_csv(tmp_path / "sts.csv", text_b_column="text_b", task="regression")
    assert ds.task == "regression" and ds.label_names == [] and [ex.label for ex in ds.train] == [4.5, 0.25]
    assert ds.summary()["splits"]["train"]["label_max"] == 4.5

    write(
        tmp_path / "tags.tsv",
        "text_a\tlabel\nnews on sport\tsport|news\nquiet day\t\ntech and sport\ttech ; sport\n",
    )
    ds = datasets.from_tsv(tmp_path / "tags.tsv", task="multilabel", label_separator="|")
    assert ds.label_names == ["news", "sport", "tech ; sport"]
    ds = datasets.from_tsv(tmp_path / "tags.tsv", task="multilabel", label_separator=";")
    assert ds.label_names == ["sport", "sport|news", "tech"] and ds.train[2].label == (0, 2)
    write(
        tmp_path / "tags.jsonl", '{"text_a": "x", "label": ["b", "a", "b"]}\n{"text_a": "y", "label": []}\n'
    )
    ds = datasets.from_jsonl(tmp_path / "tags.jsonl", task="multilabel")
    assert ds.label_names == ["a", "b"] and [ex.label for ex in ds.train] == [(0, 1), ()]
    assert ds.summary()["splits"]["train"]["labels"] == {"a": 1, "b": 1}


def test_from_jsonl_keeps_line_separators_inside_strings(tmp_path: Path) -> None:
    lines = [
        {"text_a": "first\u2028still first", "label": "pos"},
        {"text_a": "second", "label": "neg", "x": 1},
    ]
    write(tmp_path / "train.jsonl", "\n".join(json.dumps(o, ensure_ascii=False) for o in lines) + "\n\n")
    ds = datasets.from_jsonl(tmp_path / "train.jsonl")
    assert [ex.text_a for ex in ds.train] == ["first\u2028still first", "second"]
    assert [ds.label_names[ex.label] for ex in ds.train] == ["pos", "neg"]


def test_from_pandas(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    train = pd.DataFrame({"sentence": ["good", "bad", "fine"], "stars": [1, 0, 1]}, index=[10, 11, 12])
    dev = pd.DataFrame({"sentence": ["ok"], "stars": [1]})
    ds = datasets.from_pandas(
        train, dev=dev, text_column="sentence", label_column="stars", label_names=["neg", "pos"]
    )
    assert [ex.label for ex in ds.train] == [1, 0, 1] and ds.dev == [TextExample("ok", 1)]
    bad = pd.DataFrame({"sentence": ["good", None], "stars": [1, 0]}, index=["a", "b"])
    with pytest.raises(errors.DataFormatError, match=r"DataFrame 'train' \(row index 'b'\): empty text"):
        datasets.from_pandas(bad, text_column="sentence", label_column="stars")
    with pytest.raises(errors.DataFormatError, match="no column 'text_a'; the columns are: sentence, stars"):
        datasets.from_pandas(train)


def test_from_folder_layouts(tmp_path: Path) -> None:
    files = tmp_path / "files"
    write(files / "train.tsv", tsv(reviews(6)))
    write(files / "test.tsv", tsv(reviews(3)))
    ds = datasets.from_folder(files)
    assert set(ds.splits) == {"train", "test"} and ds.name == "files"

    classes = tmp_path / "classes"
    for label in ("spam", "ham"):
        for i in range(10):
            write(classes / label / f"{i:02d}.txt", f"  {label} message {i}\n")
    write(classes / "ham" / "notes.md", "not an example")
    ds = datasets.from_folder(classes, split_ratio=(0.8, 0.2))
    assert ds.label_names == ["ham", "spam"] and len(ds.train) == 16 and len(ds.dev) == 4
    assert sorted(ds.label_names[ex.label] for ex in ds.dev) == ["ham", "ham", "spam", "spam"]
    assert all(ex.text_a == ex.text_a.strip() for ex in ds.train)

    per_split = tmp_path / "per_split"
    for split in ("train", "dev"):
        for label in ("a", "b"):
            write(per_split / split / label / "x.txt", f"{split} {label}")
    ds = datasets.from_folder(per_split)
    assert ds.dev == [TextExample("dev a", 0), TextExample("dev b", 1)]

    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.DataFormatError, match="found no train.tsv"):
        datasets.from_folder(tmp_path / "empty")
    with pytest.raises(errors.ConfigError, match="text_column"):
        datasets.from_folder(classes, text_column="x")


def test_encoding_fallbacks_are_tried_in_order(tmp_path: Path) -> None:
    write(tmp_path / "gbk.tsv", tsv([(1, "很好"), (0, "太差了")]), encoding="gbk")
    ds = datasets.from_tsv(tmp_path / "gbk.tsv", encoding=("utf-8", "gbk"))
    assert ds.train[1].text_a == "太差了"
    write(tmp_path / "bom.csv", "\ufefftext_a,label\nhi,x\n")
    assert datasets.from_csv(tmp_path / "bom.csv").train == [TextExample("hi", 0)]


# --- bad data: each error names the file and the line -------------------------------------------


@pytest.mark.parametrize(
    ("content", "kwargs", "line", "message"),
    [
        ("label\ttext\n1\tok\n", {}, 1, r"no column 'text_a'; the columns are: label, text"),
        ("label\ttext_a\n1\tgood\n0\t   \n", {}, 3, r"empty text in column 'text_a'"),
        ("label\ttext_a\n1\tgood\n\tbad\n", {}, 3, r"empty label"),
        (
            "label\ttext_a\n1\tgood\n0\tbad\textra\n",
            {},
            3,
            r"expected 2 fields \(label, text_a\) separated by '\\t', found 3",
        ),
        ("label\ttext_a\n", {}, None, r"no examples: the file has a header but no rows"),
        ("", {}, None, r"the file is empty"),
        (
            "label\ttext_a\npos\tgood\nneutral\tso so\n",
            {"label_names": ["neg", "pos"]},
            3,
            r"unknown label 'neutral'; known labels: neg, pos, or an index in \[0, 2\)",
        ),
        (
            "label\ttext_a\n0.5\tgood\nhigh\tbad\n",
            {"task": "regression"},
            3,
            r"label 'high' is not a finite number",
        ),
    ],
)
def test_bad_rows_name_file_and_line(
    tmp_path: Path, content: str, kwargs: dict, line: int | None, message: str
) -> None:
    path = write(tmp_path / "train.tsv", content)
    with pytest.raises(errors.DataFormatError, match=message) as info:
        datasets.from_tsv(path, **kwargs)
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}, line {line}: " if line else f"{path}: ")


def test_undecodable_bytes_report_encoding_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"label\ttext_a\n1\tgood\n0\tcaf\xe9 au lait\n")
    with pytest.raises(errors.DataFormatError) as info:
        datasets.from_tsv(path)
    msg = str(info.value)
    assert f"{path}, line 3:" in msg and "byte offset 25" in msg and "as utf-8" in msg and "b'\\xe9'" in msg
    assert datasets.from_tsv(path, encoding="latin-1").train[1].text_a == "café au lait"


def test_dev_label_unseen_in_train_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "train.tsv", tsv([(0, "a"), (1, "b")]))
    dev = write(tmp_path / "dev.tsv", tsv([(1, "c"), (2, "d")]))
    with pytest.raises(
        errors.DataFormatError, match=r"line 3: unknown label '2'; known labels: 0, 1\."
    ) as info:
        datasets.from_folder(tmp_path)
    assert info.value.path == str(dev)


def test_jsonl_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text_a": "a", "label": 1}\n{"text_a": "b", "label": 1,}\n')
    with pytest.raises(errors.DataFormatError, match=r"d.jsonl, line 2: invalid JSON"):
        datasets.from_jsonl(path)
    write(path, '{"text_a": "a", "label": 1}\n\n{"text": "b", "label": 0}\n')
    with pytest.raises(
        errors.DataFormatError, match=r"line 3: no key 'text_a'; this object has: text, label"
    ):
        datasets.from_jsonl(path)
    write(path, '{"text_a": 5, "label": 1}\n')
    with pytest.raises(errors.DataFormatError, match=r"line 1: text in column 'text_a' must be a string"):
        datasets.from_jsonl(path)
    write(path, "[1, 2]\n")
    with pytest.raises(errors.DataFormatError, match=r"line 1: expected a JSON object, got list"):
        datasets.from_jsonl(path)


def test_missing_file_and_bad_csv(tmp_path: Path) -> None:
    with pytest.raises(errors.DataFormatError, match="no such file"):
        datasets.from_csv(tmp_path / "nope.csv")
    path = write(tmp_path / "q.csv", 'text_a,label\n"unterminated,1\n')
    with pytest.raises(errors.DataFormatError, match=r"q.csv, line \d: malformed row"):
        datasets.from_csv(path)


# --- Dataset ----------------------------------------------------------------------------------


def make_dataset(n: int = 60) -> Dataset:
    rows = reviews(n)
    examples = [TextExample(text, label) for label, text in rows]
    return Dataset("toy", {"train": examples, "dev": examples[:9]}, ["neg", "pos"])


def test_subset_is_stratified_ordered_and_deterministic() -> None:
    ds = make_dataset()
    small = ds.subset({"train": 12}, seed=1)
    assert len(small.train) == 12 and small.dev == ds.dev  # splits not named are kept whole
    assert sum(ex.label for ex in small.train) == 4  # a third positive, like the full split
    positions = [ds.train.index(ex) for ex in small.train]
    assert positions == sorted(positions)
    assert ds.subset({"train": 12}, seed=1).train == small.train
    assert ds.subset({"train": 12}, seed=2).train != small.train
    assert ds.subset().train == ds.train[:60] and len(ds.subset().dev) == 9
    with pytest.raises(errors.SplitNotFoundError):
        ds.subset({"test": 3})
    with pytest.raises(errors.ConfigError, match="positive int"):
        ds.subset({"train": 0})


def test_summary_and_label_checks() -> None:
    summary = make_dataset().summary()
    assert summary["splits"]["train"] == {"size": 60, "labels": {"neg": 40, "pos": 20}}
    assert summary["num_classes"] == 2 and summary["label_names"] == ["neg", "pos"]
    with pytest.raises(
        errors.ConfigError, match=r"toy\['train'\]\[0\].label: 2 is not a class index in \[0, 2\)"
    ):
        Dataset("toy", {"train": [TextExample("x", 2)]}, ["a", "b"])
    with pytest.raises(errors.ConfigError, match="unknown split"):
        Dataset("toy", {"validation": [TextExample("x", 0)]}, ["a"])


def test_stratified_split_keeps_exact_sizes_for_every_class_mix() -> None:
    examples = [TextExample(str(i), i % 7 % 3) for i in range(101)]
    parts = stratified_split(examples, [0.7, 0.2, 0.1], seed=0)
    assert [len(p) for p in parts] == [71, 20, 10]
    assert sorted(i for p in parts for i in p) == list(range(101))
    counts = [[sum(1 for i in p if examples[i].label == c) for c in range(3)] for p in parts]
    totals = [sum(1 for e in examples if e.label == c) for c in range(3)]
    for part, fraction in zip(counts, (0.7, 0.2, 0.1), strict=True):
        assert all(abs(got - fraction * total) <= 1 for got, total in zip(part, totals, strict=True))


# --- registry ---------------------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The registry, restored after the test (so test datasets do not leak)."""
    datasets.list_datasets()
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))
    return registry_mod._REGISTRY


def test_register_and_load_a_dataset(registry: dict) -> None:
    @datasets.register_dataset("toy-reviews")
    def toy(*, n: int = 60) -> Dataset:
        return make_dataset(n)

    assert "toy-reviews" in datasets.list_datasets()
    assert len(datasets.load("toy-reviews", n=30).train) == 30
    assert datasets.load("toy-reviews", split="dev") == make_dataset().dev
    with pytest.raises(errors.ConfigError, match=r"load\('toy-reviews'\).*it accepts: n"):
        datasets.load("toy-reviews", size=3)
    with pytest.raises(errors.DuplicateDatasetError, match="registered twice"):
        datasets.register_dataset("toy-reviews")(toy)


def test_unknown_dataset_lists_close_matches(registry: dict) -> None:
    with pytest.raises(errors.DatasetNotFoundError) as info:
        hub.datasets.load("chinese_review")
    assert info.value.close_matches[0] == "chinese-reviews"
    assert "Did you mean: chinese-reviews" in str(info.value) and "bbc-news" in str(info.value)


# --- downloads --------------------------------------------------------------------------------


def make_tar(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return dest


def test_fetch_local_folder_file_and_archive(tmp_path: Path, finehub_home: str) -> None:
    folder = tmp_path / "corpus"
    write(folder / "train.tsv", tsv(reviews(4)))
    assert fetch(folder) == folder
    archive = make_tar(folder, tmp_path / "corpus.tar.gz")
    unpacked = fetch(archive)
    assert unpacked.name == "corpus" and Path(finehub_home) in unpacked.parents
    assert (unpacked / "train.tsv").read_text() == tsv(reviews(4))
    assert fetch(f"file://{archive}") == unpacked  # unpacked once, keyed by content
    with pytest.raises(errors.IntegrityError):
        fetch(archive, sha256="0" * 64)
    with pytest.raises(errors.ConfigError, match="does not exist"):
        fetch(tmp_path / "missing.tar.gz")


def test_download_over_http_verifies_caches_and_respects_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    archive = make_tar(write(tmp_path / "corpus" / "train.tsv", tsv(reviews(4))).parent, served / "c.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("FINEHUB_OFFLINE", raising=False)
    with serve_folder(served) as base:
        with pytest.raises(errors.IntegrityError, match=r"c.tar.gz"):
            fetch(base + "c.tar.gz", sha256="f" * 64)
        with pytest.raises(errors.OfflineError, match=r"HTTP 404.*pass path="):
            fetch(base + "missing.tar.gz", hint="pass path=")
        folder = fetch(base + "c.tar.gz", sha256=digest)
    assert (folder / "train.tsv").is_file()
    monkeypatch.setenv("FINEHUB_OFFLINE", "1")
    assert fetch(base + "c.tar.gz", sha256=digest) == folder  # the server is gone; the cache answers
    with pytest.raises(errors.OfflineError, match="offline mode is on.*use a local copy"):
        fetch(base + "other.tar.gz", hint="use a local copy")
