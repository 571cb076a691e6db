"""safe_extract on real archives, harmless and malicious, built here."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from finehub._utils.archive import ArchiveLimits, is_archive, safe_extract
from finehub.errors import DataFormatError, UnsafeArchiveError

LIMITS = ArchiveLimits(max_bytes=1 << 30, max_files=1000, max_ratio=200)


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_tar(path: Path, members: list[tuple]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith(("gz", "tgz")) else "w") as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


def make_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
def test_tar_with_folders_and_inner_links_unpacks(tmp_path: Path, suffix: str) -> None:
    archive = make_tar(
        tmp_path / f"ok{suffix}",
        [
            tar_member("pkg/", tarfile.DIRTYPE),
            tar_member("pkg/data/a.txt", data=b"alpha"),
            tar_member("pkg/latest.txt", tarfile.SYMTYPE, "data/a.txt"),
            tar_member("pkg/data/b.txt", tarfile.LNKTYPE, "pkg/data/a.txt"),
            tar_member("pkg/data/up.txt", tarfile.SYMTYPE, "../latest.txt"),
        ],
    )
    assert is_archive(archive)
    dest = safe_extract(archive, tmp_path / "out", limits=LIMITS, allow_links=True)
    assert (dest / "pkg/latest.txt").read_bytes() == b"alpha"
    assert (dest / "pkg/data/b.txt").read_bytes() == b"alpha"
    assert (dest / "pkg/data/up.txt").read_bytes() == b"alpha"


def test_zip_unpacks(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "ok.zip", [("d/", b"", 0o040755), ("d/a.txt", b"alpha", 0o100644), ("b.txt", b"b", 0)]
    )
    dest = safe_extract(archive, tmp_path / "out", limits=LIMITS)
    assert (dest / "d/a.txt").read_bytes() == b"alpha" and (dest / "b.txt").read_bytes() == b"b"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([tar_member("../escape.txt")], "'..' component"),
        ([tar_member("ok/../../escape.txt")], "'..' component"),
        ([tar_member("/tmp/escape.txt")], "absolute path"),
        ([tar_member("link", tarfile.SYMTYPE, "/etc/passwd")], "absolute path '/etc/passwd'"),
        ([tar_member("a/link", tarfile.SYMTYPE, "../../etc")], "outside the destination"),
        ([tar_member("hard", tarfile.LNKTYPE, "../escape.txt")], "'..' component"),
        ([tar_member("hard", tarfile.LNKTYPE, "/etc/passwd")], "absolute path"),
        (
            [tar_member("d", tarfile.SYMTYPE, "sub"), tar_member("d/escape.txt")],
            "written through a symbolic link",
        ),
        (
            [tar_member("s", tarfile.SYMTYPE, "x"), tar_member("h", tarfile.LNKTYPE, "s")],
            "hard link to a symbolic link",
        ),
        ([tar_member("dev", tarfile.CHRTYPE)], "device file"),
        ([tar_member("disk", tarfile.BLKTYPE)], "device file"),
        ([tar_member("pipe", tarfile.FIFOTYPE)], "FIFO"),
    ],
)
def test_malicious_tar_is_refused_and_writes_nothing(tmp_path: Path, members: list, reason: str) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", [tar_member("harmless.txt"), *members])
    dest = tmp_path / "box" / "out"
    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        safe_extract(archive, dest, limits=LIMITS, allow_links=True)
    assert info.value.archive == str(archive) and info.value.member == members[-1][0].name
    assert not dest.exists() and not (tmp_path / "box" / "escape.txt").exists()


def test_symlink_chain_escaping_through_real_paths_is_refused(tmp_path: Path) -> None:
    # each link is inside on its own; together sub/p resolves to ../.. of the destination
    archive = make_tar(
        tmp_path / "chain.tar",
        [
            tar_member("sub/", tarfile.DIRTYPE),
            tar_member("sub/d", tarfile.SYMTYPE, ".."),
            tar_member("sub/p", tarfile.SYMTYPE, "d/.."),
        ],
    )
    with pytest.raises(UnsafeArchiveError, match="'sub/p' would link to .*outside the destination"):
        safe_extract(archive, tmp_path / "out", limits=LIMITS, allow_links=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("../escape.txt", 0o100644, "'..' component"),
        ("..\\escape.txt", 0o100644, "'..' component"),
        ("/tmp/escape.txt", 0o100644, "absolute path"),
        ("C:/escape.txt", 0o100644, "absolute path"),
        ("link", stat.S_IFLNK | 0o777, "symbolic link"),
        ("fifo", stat.S_IFIFO | 0o644, "device file, FIFO"),
    ],
)
def test_malicious_zip_is_refused(tmp_path: Path, name: str, mode: int, reason: str) -> None:
    archive = make_zip(
        tmp_path / "evil.zip", [("harmless.txt", b"x", 0o100644), (name, b"/etc/passwd", mode)]
    )
    with pytest.raises(UnsafeArchiveError, match=reason):
        safe_extract(archive, tmp_path / "out", limits=LIMITS)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()


def test_unreadable_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive")
    with pytest.raises(DataFormatError, match="not a readable"):
        safe_extract(junk, tmp_path / "out", limits=LIMITS)
    good = make_tar(tmp_path / "good.tar.gz", [tar_member("a.txt", data=b"a" * 100_000)])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataFormatError, match="not a readable"):
        safe_extract(truncated, tmp_path / "out2", limits=LIMITS)
