"""Sources that trickle, never end, or are not files at all: every fetch has a deadline and a cap."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from security.security_support import (
    announced_huge,
    elapsed,
    endless_body,
    hostile_server,
    trickle_body,
    trickle_headers,
)
from support import serve_folder

import finehub
from finehub import errors
from finehub._utils.transfer import TransferLimits
from finehub.data import download as data_download
from finehub.hub import index, settings, store


@pytest.mark.parametrize("respond", [trickle_body, trickle_headers], ids=["body", "headers"])
def test_trickling_index_is_abandoned_at_the_configured_deadline(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, respond
) -> None:
    monkeypatch.setenv("FINEHUB_INDEX_TIMEOUT", "1.5")
    with hostile_server(respond) as base:
        start = time.monotonic()
        with pytest.raises(errors.DownloadTimeoutError) as err:
            index.fetch_index(base + "index.json")
        assert 1.4 < elapsed(start) < 5  # one byte every 0.3 s never trips a per-read timeout
    assert err.value.seconds == 1.5 and err.value.setting == "index_timeout"
    assert "FINEHUB_INDEX_TIMEOUT" in str(err.value)


def test_trickling_index_does_not_hang_module_lookup(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEHUB_INDEX_TIMEOUT", "1")
    with hostile_server(trickle_body) as base:
        monkeypatch.setenv("FINEHUB_INDEX_URL", base + "index.json")
        start = time.monotonic()
        with pytest.raises(errors.OfflineError, match="not complete after 1 s"):
            finehub.Module("only-on-the-index")
        assert elapsed(start) < 5


def test_endless_index_is_refused_at_the_cap(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEHUB_INDEX_MAX_BYTES", "256KiB")
    with hostile_server(endless_body) as base, pytest.raises(errors.DownloadTooLargeError) as err:
        index.fetch_index(base + "index.json")
    assert err.value.limit == 256 * 1024 and err.value.setting == "index_max_bytes"


def _archive_index(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "www" / "index.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    version = {"version": "1.0.0", "url": url, "sha256": "b" * 64}
    path.write_text(json.dumps({"format": 1, "modules": [{"name": "big", "versions": [version]}]}))
    return path


def test_endless_archive_is_refused_at_the_cap_and_leaves_nothing(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEHUB_DOWNLOAD_MAX_BYTES", "1MiB")
    with hostile_server(endless_body) as base:
        entry = index.fetch_index(str(_archive_index(tmp_path, base + "big.tar.gz"))).versions[0]
        start = time.monotonic()
        with pytest.raises(errors.DownloadTooLargeError, match="download_max_bytes"):
            store.download_archive(entry)
        assert elapsed(start) < 10
    downloads = fresh_home / "cache" / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []  # no temp file left to fill the disk


def test_announced_size_over_the_cap_is_refused_before_reading(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEHUB_DOWNLOAD_MAX_BYTES", "1MiB")
    with hostile_server(announced_huge) as base:
        start = time.monotonic()
        with pytest.raises(errors.DownloadTooLargeError):
            data_download.download(base + "huge.bin")
        assert elapsed(start) < 5  # the server then goes quiet for 30 s: only the announcement refused it


def test_endless_dataset_download_is_refused_at_the_cap(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEHUB_DOWNLOAD_MAX_BYTES", "512KiB")
    with hostile_server(endless_body) as base, pytest.raises(errors.DownloadTooLargeError):
        data_download.fetch(base + "data.csv")
    leftovers = [p for p in (fresh_home / "datasets" / "downloads").rglob("*") if p.is_file()]
    assert [p.name for p in leftovers if not p.name.endswith(".lock")] == []


def test_trickling_dataset_download_is_abandoned_at_the_deadline(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINEHUB_DOWNLOAD_TIMEOUT", "1")
    with hostile_server(trickle_body) as base:
        start = time.monotonic()
        with pytest.raises(errors.DownloadTimeoutError, match="download_timeout"):
            data_download.fetch(base + "data.csv", timeout=30)
        assert elapsed(start) < 5


def test_dev_zero_is_refused_everywhere(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(errors.ConfigError, match="not a regular file"):
        index.fetch_index("file:///dev/zero")
    monkeypatch.setenv("FINEHUB_INDEX_URL", "file:///dev/zero")
    with pytest.raises(errors.ConfigError, match="not a regular file"):
        finehub.Module("anything-from-the-index")
    monkeypatch.delenv("FINEHUB_INDEX_URL")
    entry = index.fetch_index(str(_archive_index(tmp_path, "file:///dev/zero"))).versions[0]
    with pytest.raises(errors.ConfigError, match="not a regular file"):
        store.download_archive(entry)
    for source in ("file:///dev/zero", "/dev/zero"):
        with pytest.raises(errors.ConfigError, match="not a regular file"):
            data_download.fetch(source, sha256="c" * 64)


def test_local_file_over_the_cap_is_refused_without_reading_it(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "index.json"
    big.write_bytes(b" " * (64 * 1024))
    monkeypatch.setenv("FINEHUB_INDEX_MAX_BYTES", "1KiB")
    with pytest.raises(errors.DownloadTooLargeError, match="index_max_bytes"):
        index.fetch_index(str(big))


def test_limits_come_from_env_then_config_then_defaults(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    assert settings.transfer_limits("index") == TransferLimits(16 << 20, 60, "index")
    assert settings.transfer_limits("download") == TransferLimits(4 << 30, 3600, "download")
    cli("config", "set", "index_timeout", "2.5")
    cli("config", "set", "download_max_bytes", "2GiB")
    assert settings.limit("index_timeout") == 2.5 and settings.limit("download_max_bytes") == 2 << 30
    shown = json.loads(cli("config").stdout)
    assert shown["index_timeout"] == 2.5 and shown["archive_max_files"] == 100_000
    monkeypatch.setenv("FINEHUB_INDEX_TIMEOUT", "7")
    assert settings.limit("index_timeout") == 7
    monkeypatch.setenv("FINEHUB_INDEX_TIMEOUT", "-1")
    with pytest.raises(errors.ConfigError, match="FINEHUB_INDEX_TIMEOUT"):
        settings.limit("index_timeout")
    for key, value in [("download_max_bytes", "lots"), ("index_timeout", "5MiB"), ("archive_max_ratio", "0")]:
        proc = cli("config", "set", key, value, check=False)
        assert proc.returncode == 1 and "is not a positive number" in proc.stderr


def test_cached_archive_is_hashed_again_before_use(tmp_path: Path, fresh_home: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "m.tar.gz").write_bytes(b"the real archive bytes")
    sha = hashlib.sha256(b"the real archive bytes").hexdigest()
    (root / "index.json").write_text(
        json.dumps(
            {
                "format": 1,
                "modules": [
                    {"name": "m", "versions": [{"version": "1.0.0", "url": "m.tar.gz", "sha256": sha}]}
                ],
            }
        )
    )
    with serve_folder(root) as base:
        entry = index.fetch_index(base + "index.json").versions[0]
        cached = store.download_archive(entry)
        cached.write_bytes(b"swapped in the cache")  # a cached file is not trusted for its name alone
        assert store.download_archive(entry) == cached and cached.read_bytes() == b"the real archive bytes"
