"""Unpacking archives that may come from anywhere (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip).

Every member is checked before anything is written, and the whole archive is refused
(:class:`~finehub.errors.UnsafeArchiveError`) if one member would:

- have an absolute path or a ``..`` component (zip names are split on ``\\`` too);
- be written through a symbolic link the archive itself creates;
- be a symbolic or hard link whose target is absolute or outside the destination;
- be a device file, FIFO or anything else than a regular file, a folder or a link.

Tar members are then extracted with Python's ``"data"`` filter, which re-checks each path against
the real file system and drops set-uid bits. Zip links are refused outright: ``zipfile`` would write
them as plain files holding the target path. ``dest`` should be a new or empty folder; if it
was new, a refused or broken archive leaves nothing behind.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

from finehub.errors import DataFormatError, UnsafeArchiveError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")

_S_IFMT, _S_IFLNK = 0o170000, 0o120000


def is_archive(path: str | Path) -> bool:
    """True when the file name ends with a suffix :func:`safe_extract` unpacks."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Unpack ``archive`` into ``dest`` (created if needed) after checking every member; return ``dest``."""
    archive, dest = Path(archive), Path(dest)
    created = not dest.exists()
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except BaseException:
        if created:  # leave no half-unpacked folder behind
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _is_absolute(name: str) -> bool:
    """POSIX or Windows absolute (``/x``, ``\\x``, ``C:/x``, ``C:\\x``)."""
    return bool(re.match(r"^([/\\]|[A-Za-z]:[/\\])", name))


def _check_name(archive: Path, member: str, name: str, links: set[str]) -> str:
    """Normalised relative form of ``name`` (a member's path or hard-link target), or UnsafeArchiveError."""
    if _is_absolute(name):
        raise UnsafeArchiveError(str(archive), member, f"has the absolute path {name!r}")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            str(archive), member, f"has a '..' component in {name!r} that could escape the destination"
        )
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            raise UnsafeArchiveError(
                str(archive), member, "would be written through a symbolic link in the archive"
            )
    return "/".join(parts)


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            links: set[str] = set()
            for m in members:
                name = _check_name(archive, m.name, m.name, links)
                if m.issym():
                    _check_symlink(archive, m.name, m.linkname, posixpath.dirname(name))
                    links.add(name)
                elif m.islnk():
                    if _check_name(archive, m.name, m.linkname, links) in links:
                        raise UnsafeArchiveError(str(archive), m.name, "is a hard link to a symbolic link")
                elif not (m.isfile() or m.isdir()):
                    kind = (
                        "device file"
                        if (m.ischr() or m.isblk())
                        else "FIFO"
                        if m.isfifo()
                        else "special file"
                    )
                    raise UnsafeArchiveError(str(archive), m.name, f"is a {kind}")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, **_tar_filter())
    except tarfile.FilterError as e:
        reason = str(e).removeprefix(f"{e.tarinfo.name!r} ")
        raise UnsafeArchiveError(str(archive), e.tarinfo.name, reason) from e
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise _unreadable(archive, e) from e
    except OSError as e:
        if e.errno is not None:  # a real I/O error (disk full, permissions), not a broken archive
            raise
        raise _unreadable(archive, e) from e


def _check_symlink(archive: Path, member: str, target: str, parent: str) -> None:
    if not target or _is_absolute(target):
        raise UnsafeArchiveError(str(archive), member, f"is a link to the absolute path {target!r}")
    resolved = posixpath.normpath(posixpath.join(parent, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(str(archive), member, f"is a link to {target!r}, outside the destination")


def _unreadable(archive: Path, e: BaseException) -> DataFormatError:
    return DataFormatError(
        str(archive), f"not a readable .tar, .tar.gz, .tgz or .zip archive ({e}); get it again"
    )


def _tar_filter() -> dict[str, str]:
    # Python >= 3.10.12 / 3.11.4 re-checks each member against the real file system.
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_name(archive, info.filename, info.filename, set())
                mode = info.external_attr >> 16
                if mode & _S_IFMT == _S_IFLNK:
                    raise UnsafeArchiveError(
                        str(archive), info.filename, "is a symbolic link (not supported in zip)"
                    )
                if mode & _S_IFMT not in (0, 0o100000, 0o040000):
                    raise UnsafeArchiveError(
                        str(archive), info.filename, "is a device file, FIFO or special file"
                    )
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest, members=infos)
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise _unreadable(archive, e) from e
