"""The built-in datasets, read from the installed packages (and a ChnSentiCorp look-alike built here)."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import pytest

import finehub as hub
from finehub import errors
from finehub._utils.hashing import sha256_file
from finehub.data.dataset import Dataset


def assert_clean_splits(ds: Dataset) -> None:
    """No text appears twice, within or across splits."""
    texts = [ex.text_a for split in ds.splits.values() for ex in split]
    assert len(texts) == len(set(texts))


def test_builtins_are_registered() -> None:
    assert {"chinese-reviews", "bbc-news", "chnsenticorp"} <= set(hub.datasets.list_datasets())


def test_chinese_reviews() -> None:
    ds = hub.datasets.load("chinese-reviews")
    assert ds.label_names == ["negative", "positive"] and ds.task == "classification"
    summary = ds.summary()["splits"]
    assert {s: v["size"] for s, v in summary.items()} == {"train": 13891, "dev": 1736, "test": 1736}
    assert summary["train"]["labels"] == {"negative": 7225, "positive": 6666}
    assert summary["dev"]["labels"] == summary["test"]["labels"] == {"negative": 903, "positive": 833}
    assert_clean_splits(ds)
    assert all(ex.text_a and ex.text_a == ex.text_a.strip() and ex.text_b is None for ex in ds.train)
    assert hub.datasets.load("chinese-reviews").splits == ds.splits  # the same split every time
    reshuffled = hub.datasets.load("chinese-reviews", seed=1)
    assert reshuffled.dev != ds.dev and len(reshuffled.dev) == len(ds.dev)


def test_bbc_news() -> None:
    ds = hub.datasets.load("bbc-news")
    assert ds.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 1701, "dev": 213, "test": 213}
    totals = Counter(ds.label_names[ex.label] for split in ds.splits.values() for ex in split)
    assert totals == {"business": 503, "entertainment": 369, "politics": 403, "sports": 505, "tech": 347}
    assert_clean_splits(ds)
    texts = [ex.text_a for split in ds.splits.values() for ex in split]
    # title line, blank line, body; the Latin-1 files decode to real pound signs
    assert all("\n\n" in t for t in texts) and not any("\ufffd" in t for t in texts)
    assert any("£15.8m" in t for t in texts)
    assert hub.datasets.load("bbc-news", split="test") == ds.test


def write_chnsenticorp(root: Path) -> Path:
    """A folder in PaddleHub's ChnSentiCorp format: label<TAB>text_a, header, three files."""
    folder = root / "chnsenticorp"
    folder.mkdir(parents=True)
    sizes = {"train": 24, "dev": 6, "test": 6}
    for split, n in sizes.items():
        rows = [
            f"{i % 2}\t{split}评论{i}，{'房间干净，服务很好' if i % 2 else '太吵了，不推荐'}"
            for i in range(n)
        ]
        (folder / f"{split}.tsv").write_text("label\ttext_a\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_chnsenticorp_from_folder_archive_and_url(tmp_path: Path) -> None:
    folder = write_chnsenticorp(tmp_path / "src")
    ds = hub.datasets.load("chnsenticorp", path=folder)
    assert ds.name == "chnsenticorp" and ds.label_names == ["negative", "positive"]
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 24, "dev": 6, "test": 6}
    assert ds.train[1].label == 1 and ds.train[1].text_a == "train评论1，房间干净，服务很好"

    archive = tmp_path / "chnsenticorp.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="chnsenticorp")
    assert hub.datasets.load("chnsenticorp", path=archive).splits == ds.splits
    from_url = hub.datasets.load("chnsenticorp", url=archive.as_uri(), sha256=sha256_file(archive))
    assert from_url.splits == ds.splits
    with pytest.raises(errors.IntegrityError):
        hub.datasets.load("chnsenticorp", path=archive, sha256="0" * 64)


def test_chnsenticorp_offline_and_incomplete_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEHUB_OFFLINE", "1")
    with pytest.raises(errors.OfflineError, match=r"chnsenticorp.tar.gz.*path="):
        hub.datasets.load("chnsenticorp")
    folder = write_chnsenticorp(tmp_path)
    (folder / "dev.tsv").unlink()
    with pytest.raises(errors.DataFormatError, match=r"missing dev.tsv .*found: test.tsv, train.tsv"):
        hub.datasets.load("chnsenticorp", path=folder)
    with pytest.raises(errors.ConfigError, match="conflicts with url"):
        hub.datasets.load("chnsenticorp", path=folder, url="https://example.org/c.tar.gz")
