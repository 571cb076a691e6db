"""The local module store under ``FINEHUB_HOME``.

Layout::

    FINEHUB_HOME/                      (default ~/.cache/finehub)
    ├── config.json                    user settings (index_url, log_level)
    ├── modules/<name>/<version>/      installed modules: module.json + the files it pins
    │   └── .verified.json             size/mtime of each asset when its sha256 last matched
    ├── modules/<name>/.<version>.lock install lock (one installer at a time per version)
    ├── cache/downloads/<sha256>       archives fetched from an index, named by content
    ├── converted/<key>/               safetensors converted once from pinned pickle weights
    └── datasets/                      downloaded datasets

Installing is atomic: the module is unpacked or copied into ``modules/<name>/.tmp-*``, its
assets are checked against the sha256 values in ``module.json``, then the folder is renamed into
place under a file lock, so a crash leaves nothing half-installed and two processes installing
the same module end with one copy.

An installed tree holds regular files and folders only. Links, devices and FIFOs are refused in
module folders and archives alike (links are copied as links, never followed, and the copy is
checked again), so nothing outside the module can become part of it. The name and version are
checked (:mod:`finehub.hub.names`) before either becomes a path, and the ``entry`` must name an
installed package or a file inside the module (nothing is imported to check it). A
``.verified.json`` that comes with a module is dropped: every asset is hashed on install.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finehub._utils import paths, transfer
from finehub._utils.archive import ARCHIVE_SUFFIXES, is_archive, safe_extract
from finehub._utils.fs import atomic_path, atomic_write_json, file_lock
from finehub._utils.hashing import check_sha256, sha256_file, verify_sha256
from finehub.errors import (
    IntegrityError,
    InvalidManifestError,
    ModuleNotFoundInHubError,
    PickleRefusedError,
    UnsafeModuleError,
)
from finehub.hub import index as index_mod
from finehub.hub import names, settings
from finehub.hub.module import ModuleInfo
from finehub.hub.weights import is_pickle

log = logging.getLogger(__name__)

MANIFEST = "module.json"
_VERIFIED = ".verified.json"


@dataclass(frozen=True)
class InstalledModule:
    info: ModuleInfo
    path: Path


def read_manifest(folder: Path) -> ModuleInfo:
    path = folder / MANIFEST
    if not path.is_file():
        raise InvalidManifestError(str(folder), f"no {MANIFEST} in this folder; it is not a finehub module")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidManifestError(str(path), f"not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InvalidManifestError(str(path), "must be a JSON object of module fields")
    names.check_name(data.get("name"), where=str(path))
    names.check_version(data.get("version"), where=str(path))
    return ModuleInfo.from_dict(data, where=str(path))


def write_manifest(folder: Path, info: ModuleInfo) -> None:
    atomic_write_json(folder / MANIFEST, info.to_dict())


def installed(name: str | None = None) -> list[InstalledModule]:
    """Folder modules in ``FINEHUB_HOME/modules``, optionally only those called ``name``."""
    root = paths.modules_dir()
    if not root.is_dir() or (name is not None and not names.is_valid_name(name)):
        return []
    out = []
    for mod_dir in sorted(root.iterdir()) if name is None else [root / name]:
        if not mod_dir.is_dir() or mod_dir.name.startswith("."):
            continue
        for ver_dir in sorted(mod_dir.iterdir()):
            if ver_dir.name.startswith(".") or not (ver_dir / MANIFEST).is_file():
                continue
            try:
                out.append(InstalledModule(read_manifest(ver_dir), ver_dir))
            except InvalidManifestError as e:
                log.warning("Skipping %s: %s", ver_dir, e)
    return out


def verify_folder(
    folder: Path, info: ModuleInfo, *, allow_pickle: bool = False, shown: str | None = None
) -> None:
    """Check every pinned asset, and refuse pickle files unless allowed.

    A successful check records each asset's size and mtime, so later loads re-hash only the files
    that changed since. ``shown`` names the folder in errors (the source of an install, rather than
    its temporary copy).
    """

    def label(path: Path) -> str:
        return f"{shown}: {path.relative_to(folder).as_posix()}" if shown else str(path)

    if not allow_pickle:
        for path in folder.rglob("*"):
            if path.is_file() and is_pickle(path):
                raise PickleRefusedError(label(path))
    record_path = folder / _VERIFIED
    try:
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
    except json.JSONDecodeError:
        record = {}
    changed = False
    for asset in info.assets:
        path = _inside(folder, asset.path)
        if not path.is_file():
            raise InvalidManifestError(
                label(folder / MANIFEST), f"asset {asset.path!r} is missing from the folder"
            )
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, asset.sha256]
        if record.get(asset.path) == stamp:
            continue
        actual = sha256_file(path)
        if actual != check_sha256(asset.sha256, where=f"{label(folder / MANIFEST)} asset {asset.path!r}"):
            raise IntegrityError(label(path), asset.sha256, actual)
        record[asset.path] = stamp
        changed = True
    if changed:
        try:
            atomic_write_json(record_path, record)
        except OSError:  # a read-only install is still usable; it is just re-hashed next time
            log.debug("Could not record verification in %s", record_path)


def install_folder(src: str | Path, *, allow_pickle: bool = False, force: bool = False) -> InstalledModule:
    """Copy a module folder (with module.json) into the store, verified and atomically."""
    src = Path(src)
    return _commit(read_manifest(src), src, str(src), force=force, allow_pickle=allow_pickle)


def install_archive(
    archive: str | Path, *, allow_pickle: bool = False, force: bool = False, sha256: str | None = None
) -> InstalledModule:
    """Unpack a module archive (tar, tar.gz/bz2/xz, zip) into the store, verified and atomically."""
    archive = Path(archive)
    if sha256:
        verify_sha256(archive, sha256)
    with tempfile.TemporaryDirectory(prefix="finehub-unpack-") as scratch:
        root = _unpack(archive, Path(scratch))
        return _commit(read_manifest(root), root, str(archive), force=force, allow_pickle=allow_pickle)


def install_from_index(
    entry: index_mod.IndexVersion, *, allow_pickle: bool = False, force: bool = False
) -> InstalledModule:
    """Download (or reuse from the download cache) an index archive, check its sha256, install it."""
    return install_archive(download_archive(entry), allow_pickle=allow_pickle, force=force)


def download_archive(entry: index_mod.IndexVersion) -> Path:
    """The archive of an index entry in the download cache, fetched if absent; sha256 checked.

    A cached copy is hashed again before use, and fetched anew if it no longer matches.
    """
    assert entry.url, "archive entries carry a url (checked by parse_index)"
    where = f"{entry.index} entry {entry.name}=={entry.version}"
    sha256 = check_sha256(entry.sha256, where=where)
    names.check_name(entry.name, where=where)
    names.check_version(entry.version, where=where)
    dest = paths.cache_dir() / "downloads" / f"{sha256}{archive_suffix(entry.url)}"
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    index_mod.check_url(entry.url, where=where)
    with atomic_path(dest) as tmp:
        transfer.download_to(
            entry.url,
            tmp,
            limits=settings.transfer_limits("download"),
            what=f"{entry.name}=={entry.version} ({entry.url})",
            read_timeout=index_mod.TIMEOUT_S,
        )
        actual = sha256_file(tmp)
        if actual != sha256:
            raise IntegrityError(entry.url, sha256, actual)
    return dest


def uninstall(name: str, version: str | None = None) -> list[Path]:
    """Remove installed versions of a folder module; returns the folders removed."""
    names.check_name(name, where="the module to uninstall")
    if version is not None:
        names.check_version(version, where="the module to uninstall")
    found = [m for m in installed(name) if version is None or m.info.version == version]
    if not found:
        raise ModuleNotFoundInHubError(
            f"{name}=={version}" if version else name,
            rejected=[f"{m.info.name}=={m.info.version}: installed" for m in installed(name)],
        )
    for mod in found:
        with file_lock(_lock_path(mod.info)):
            trash = mod.path.with_name(f".trash-{mod.path.name}-{os.getpid()}")
            os.replace(mod.path, trash)
            shutil.rmtree(trash, ignore_errors=True)
    parent = paths.modules_dir() / name
    if parent.is_dir() and not any(p for p in parent.iterdir() if not p.name.startswith(".")):
        shutil.rmtree(parent, ignore_errors=True)
    return [m.path for m in found]


def pack(folder: str | Path, output_dir: str | Path = ".") -> tuple[Path, dict]:
    """Write ``<name>-<version>.tar.gz`` from a module folder; returns it and its index entry."""
    import tarfile

    folder = Path(folder)
    info = read_manifest(folder)
    verify_folder(folder, info, allow_pickle=True)
    out = Path(output_dir) / f"{info.name}-{info.version}.tar.gz"
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.name == _VERIFIED or not (path.is_file() or path.is_dir()) or path.is_symlink():
                continue
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    entry = {"version": info.version, "url": out.name, "sha256": sha256_file(out), "finehub": info.finehub}
    return out, entry


def archive_suffix(name: str) -> str:
    """The archive suffix a file name or URL ends with ('.tar.gz', '.zip', ...), or ''."""
    return next((s for s in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True) if name.lower().endswith(s)), "")


def _commit(info: ModuleInfo, src: Path, shown: str, *, force: bool, allow_pickle: bool) -> InstalledModule:
    """Copy ``src`` to a temp folder next to the target, check it, and rename it into place, all
    under the install lock; ``shown`` names the source in errors. A failed install leaves no lock."""
    _check_plain_tree(src, shown)
    target = paths.modules_dir() / info.name / info.version
    lock_path = _lock_path(info)
    with file_lock(lock_path):
        if target.exists() and not force:
            log.info("%s==%s is already installed at %s", info.name, info.version, target)
            return InstalledModule(read_manifest(target), target)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            shutil.copytree(
                src, tmp, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_VERIFIED)
            )
            _check_plain_tree(tmp, shown)
            installed_info = read_manifest(tmp)
            names.check_entry(installed_info.entry, where=f"{shown} ({MANIFEST})", folder=tmp)
            verify_folder(tmp, installed_info, allow_pickle=allow_pickle, shown=shown)
            if target.exists():
                old = target.with_name(f".trash-{info.version}-{os.getpid()}")
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.exists():  # nothing of this version is left: neither its lock nor an empty folder
                lock_path.unlink(missing_ok=True)  # still held; waiting installers notice and retry
                _remove_if_empty(target.parent)
            raise
    log.info("Installed %s==%s at %s", info.name, info.version, target)
    return InstalledModule(read_manifest(target), target)


def _check_plain_tree(folder: Path, shown: str) -> None:
    """Refuse links (even to files inside), devices, FIFOs and sockets anywhere under ``folder``."""
    for parent, dirs, files in os.walk(folder):  # never follows links, so a link loop cannot trap it
        for name in dirs + files:
            path = Path(parent, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                reason = f"is a symbolic link (to {os.readlink(path)!r}); a module holds regular files only"
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                reason = "is a device file, FIFO or socket; a module holds regular files only"
            else:
                continue
            raise UnsafeModuleError(shown, path.relative_to(folder).as_posix(), reason)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another version, another installer's lock) or gone
        folder.rmdir()


def _lock_path(info: ModuleInfo) -> Path:
    return paths.modules_dir() / info.name / f".{info.version}.lock"


def _unpack(archive: Path, scratch: Path) -> Path:
    """Extract safely and return the folder holding module.json (the root, or its single child)."""
    if not is_archive(archive):
        raise InvalidManifestError(
            str(archive), f"not a module archive; expected one of {', '.join(ARCHIVE_SUFFIXES)}"
        )
    safe_extract(archive, scratch, limits=settings.archive_limits())
    if (scratch / MANIFEST).is_file():
        return scratch
    children = [p for p in scratch.iterdir() if p.is_dir()]
    if len(children) == 1 and (children[0] / MANIFEST).is_file():
        return children[0]
    raise InvalidManifestError(
        str(archive), f"no {MANIFEST} at the top of the archive (or in its single top folder)"
    )


def _inside(folder: Path, rel: str) -> Path:
    path = (folder / rel).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InvalidManifestError(
            str(folder / MANIFEST), f"asset path {rel!r} points outside the module folder"
        )
    return path
