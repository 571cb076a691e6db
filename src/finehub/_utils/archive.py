"""Unpacking archives that may come from anywhere (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip).

Every member is checked before anything is written, and the whole archive is refused
(:class:`~finehub.errors.UnsafeArchiveError`) if one member would:

- have an absolute path or a ``..`` component (zip names are split on ``\\`` too);
- be a symbolic or hard link, unless the caller passes ``allow_links=True`` (data archives do;
  module archives never hold links);
- with links allowed: be written through a symbolic link the archive itself creates, or be a link
  whose target is absolute or outside the destination;
- be a device file, FIFO or anything else than a regular file, a folder or a link;
- take the archive past its :class:`ArchiveLimits`: total unpacked bytes, number of entries, and
  expansion ratio. Sizes come from the member headers, which the readers hold each member to.

Tar members are then extracted with Python's ``"data"`` filter, which re-checks each path against
the real file system and drops set-uid bits. That check sees the tree only as it is when each member
is written, and a link created later can change where an earlier one leads (``a -> b/../..``, then
``b -> x/y``), so with links allowed every link is resolved again once all are in place, and the
archive is refused if one leads outside ``dest``. Zip links are refused outright: ``zipfile`` would
write them as plain files holding the target path. ``dest`` should be a new or empty folder; if it
was new, a refused or broken archive leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from finehub.errors import DataFormatError, UnsafeArchiveError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")

_S_IFMT, _S_IFLNK = 0o170000, 0o120000
_RATIO_FLOOR = 1 << 20  # archives smaller than this count as this big for the ratio check


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may unpack to (``finehub.hub.settings.archive_limits()`` reads the settings).

    An archive may hold at most ``max_files`` entries and unpack to at most ``max_bytes`` bytes and to
    at most ``max_ratio`` times its own size (an archive under 1 MiB counts as 1 MiB).
    """

    max_bytes: int
    max_files: int
    max_ratio: float


def is_archive(path: str | Path) -> bool:
    """True when the file name ends with a suffix :func:`safe_extract` unpacks."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def safe_extract(
    archive: str | Path, dest: str | Path, *, limits: ArchiveLimits, allow_links: bool = False
) -> Path:
    """Unpack ``archive`` into ``dest`` (created if needed) after checking every member; return ``dest``."""
    archive, dest = Path(archive), Path(dest)
    created = not dest.exists()
    try:
        budget = _Budget(archive, limits)
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, budget)
        else:
            _extract_tar(archive, dest, budget, allow_links=allow_links)
    except BaseException:
        if created:  # leave no half-unpacked folder behind
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


class _Budget:
    """Counts entries and unpacked bytes as members are checked; refuses past the limits."""

    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        self.archive, self.limits = archive, limits
        self.max_bytes = min(limits.max_bytes, limits.max_ratio * max(archive.stat().st_size, _RATIO_FLOOR))
        self.files = self.bytes = 0

    def add(self, member: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            self._refuse(member, f"is entry number {self.files}", "archive_max_files", self.limits.max_files)
        if self.bytes > self.max_bytes:
            if self.bytes > self.limits.max_bytes:
                setting, limit = "archive_max_bytes", self.limits.max_bytes
            else:
                setting, limit = "archive_max_ratio", self.limits.max_ratio
            self._refuse(member, f"takes the unpacked size to {self.bytes} bytes", setting, limit)

    def _refuse(self, member: str, what: str, setting: str, limit: float) -> None:
        raise UnsafeArchiveError(
            str(self.archive),
            member,
            f"{what}, past the limit {setting}={limit:g} (a decompression bomb?); if the archive is "
            f"genuine, raise it with `finehub config set {setting} ...` or FINEHUB_{setting.upper()}",
        )


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


def _extract_tar(archive: Path, dest: Path, budget: _Budget, *, allow_links: bool) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members: list[tarfile.TarInfo] = []
            links: set[str] = set()
            sizes: dict[str, int] = {}
            written: set[str] = set()  # every member and the folders it implies
            while (m := tar.next()) is not None:  # one header at a time: a bomb is refused before it inflates
                name = _check_name(archive, m.name, m.name, links)
                if (m.issym() or m.islnk()) and not allow_links:
                    kind = "symbolic" if m.issym() else "hard"
                    raise UnsafeArchiveError(
                        str(archive), m.name, f"is a {kind} link; links are not allowed in this archive"
                    )
                if name in links or (m.issym() and name in written):
                    raise UnsafeArchiveError(
                        str(archive),
                        m.name,
                        "has the path of an earlier member, and one of the two is a link",
                    )
                size = m.size if m.isfile() else 0
                if m.issym():
                    _check_symlink(archive, m.name, m.linkname, posixpath.dirname(name))
                    links.add(name)
                elif m.islnk():
                    target = _check_name(archive, m.name, m.linkname, links)
                    if target in links:
                        raise UnsafeArchiveError(str(archive), m.name, "is a hard link to a symbolic link")
                    size = sizes.get(target, 0)  # may be unpacked as a copy
                elif not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(str(archive), m.name, f"is a {_special_kind(m)}")
                budget.add(m.name, size)
                sizes[name] = size
                parts = name.split("/")
                written.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
                members.append(m)
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, **_tar_filter())
        if links:
            _check_links_inside(archive, dest)
    except tarfile.FilterError as e:
        reason = str(e).removeprefix(f"{e.tarinfo.name!r} ")
        raise UnsafeArchiveError(str(archive), e.tarinfo.name, reason) from e
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise _unreadable(archive, e) from e
    except OSError as e:
        if e.errno is not None:  # a real I/O error (disk full, permissions), not a broken archive
            raise
        raise _unreadable(archive, e) from e


def _special_kind(m: tarfile.TarInfo) -> str:
    if m.ischr() or m.isblk():
        return "device file"
    return "FIFO" if m.isfifo() else "special file"


def _check_symlink(archive: Path, member: str, target: str, parent: str) -> None:
    if not target or _is_absolute(target):
        raise UnsafeArchiveError(str(archive), member, f"is a link to the absolute path {target!r}")
    resolved = posixpath.normpath(posixpath.join(parent, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(str(archive), member, f"is a link to {target!r}, outside the destination")


def _check_links_inside(archive: Path, dest: Path) -> None:
    """Resolve every link of the unpacked tree, now that all are in place; refuse one that leaves it."""
    root = os.path.realpath(dest)
    for folder, dirs, files in os.walk(dest):  # links to folders are listed, never followed
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and os.path.commonpath([root, os.path.realpath(path)]) != root:
                member = Path(path).relative_to(dest).as_posix()
                raise UnsafeArchiveError(
                    str(archive),
                    member,
                    "is a link that leads outside the destination once the archive is unpacked",
                )


def _unreadable(archive: Path, e: BaseException) -> DataFormatError:
    return DataFormatError(
        str(archive), f"not a readable .tar, .tar.gz, .tgz or .zip archive ({e}); get it again"
    )


def _tar_filter() -> dict[str, str]:
    # Python >= 3.10.12 / 3.11.4 re-checks each member against the real file system.
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
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
                budget.add(info.filename, info.file_size)  # zipfile stops a member at this size
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest, members=infos)
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise _unreadable(archive, e) from e
