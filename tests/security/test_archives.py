"""Module and data archives that try to reach outside their folder or to fill the disk."""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from security.security_support import files_holding, member, module_members, write_tar

from finehub import errors
from finehub._utils.archive import ArchiveLimits, safe_extract
from finehub.hub import store

SECRET = b"top secret, never to be copied into a module"
ROOMY = ArchiveLimits(max_bytes=1 << 30, max_files=1000, max_ratio=1000)

# The links of the ordering attack: each checks out on its own and against the tree as it is when it
# is written, but once `lnk` exists, `esc` climbs three folders above the destination.
ESC = member("p/q/r/esc", tarfile.SYMTYPE, linkname="lnk/../../../../outside/secret.txt")
LNK = member("p/q/r/lnk", tarfile.SYMTYPE, linkname="../../../s")
FOLDERS = [member(d, tarfile.DIRTYPE) for d in ("p", "p/q", "p/q/r", "s")]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """tmp_path/outside/secret.txt: three levels above any destination tmp_path/x/y/<dest>."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def scratch_three_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make install's unpack folder tmp_path/x/y/<random>, so '../../..' from it is tmp_path."""
    root = tmp_path / "x" / "y"
    root.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.parametrize("order", ["esc-first", "lnk-first"])
def test_symlink_ordering_escape_is_refused_by_install(
    tmp_path: Path, fresh_home: Path, secret: Path, scratch_three_below: Path, order: str
) -> None:
    links = [ESC, LNK] if order == "esc-first" else [LNK, ESC]
    archive = write_tar(tmp_path / "evil.tar.gz", [*module_members(), *FOLDERS, *links])
    with pytest.raises(errors.UnsafeArchiveError, match="is a symbolic link; links are not allowed") as err:
        store.install_archive(archive)
    assert err.value.member == links[0][0].name
    assert not files_holding(fresh_home, SECRET) and not (fresh_home / "modules" / "probe").exists()
    assert list(scratch_three_below.iterdir()) == []  # the unpack folder is gone too


@pytest.mark.parametrize("order", ["esc-first", "lnk-first"])
def test_symlink_ordering_escape_is_refused_where_links_are_allowed(
    tmp_path: Path, secret: Path, order: str
) -> None:
    links = [ESC, LNK] if order == "esc-first" else [LNK, ESC]
    archive = write_tar(tmp_path / "data.tar", [*FOLDERS, *links])
    dest = tmp_path / "x" / "y" / "out"  # dest/../../.. is tmp_path, where 'outside' is
    with pytest.raises(errors.UnsafeArchiveError, match="outside the destination") as err:
        safe_extract(archive, dest, limits=ROOMY, allow_links=True)
    assert err.value.member == "p/q/r/esc"
    assert not dest.exists() and secret.read_bytes() == SECRET


def test_link_to_a_folder_outside_is_refused(
    tmp_path: Path, fresh_home: Path, secret: Path, scratch_three_below: Path
) -> None:
    to_dir = member("p/q/r/esc", tarfile.SYMTYPE, linkname="lnk/../../../../outside")
    archive = write_tar(tmp_path / "evil.tar.gz", [*module_members(), *FOLDERS, to_dir, LNK])
    with pytest.raises(errors.UnsafeArchiveError, match="symbolic link"):
        store.install_archive(archive)
    assert not files_holding(fresh_home, SECRET)
    dest = tmp_path / "x" / "y" / "out"
    with pytest.raises(errors.UnsafeArchiveError, match="outside the destination"):
        safe_extract(archive, dest, limits=ROOMY, allow_links=True)
    assert not dest.exists()


def test_hard_link_in_a_module_archive_is_refused(tmp_path: Path, fresh_home: Path) -> None:
    hard = member("copy.py", tarfile.LNKTYPE, linkname="module.py")  # even one that stays inside
    archive = write_tar(tmp_path / "hard.tar.gz", [*module_members(), hard])
    with pytest.raises(errors.UnsafeArchiveError, match="is a hard link; links are not allowed") as err:
        store.install_archive(archive)
    assert err.value.member == "copy.py" and not (fresh_home / "modules" / "probe").exists()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (member("dev", tarfile.CHRTYPE), "device file"),
        (member("fifo", tarfile.FIFOTYPE), "FIFO"),
        (member("module.py", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
    ],
)
def test_special_members_are_refused_in_module_archives(
    tmp_path: Path, fresh_home: Path, extra: tuple, reason: str
) -> None:
    archive = write_tar(tmp_path / "evil.tar", [*module_members(), extra])
    with pytest.raises(errors.UnsafeArchiveError, match=reason):
        store.install_archive(archive)
    assert not (fresh_home / "modules" / "probe").exists()


def test_cli_install_refuses_the_ordering_escape(tmp_path: Path, secret: Path, cli) -> None:
    archive = write_tar(tmp_path / "evil.tar.gz", [*module_members(), *FOLDERS, ESC, LNK])
    scratch = tmp_path / "x" / "y"
    scratch.mkdir(parents=True)
    proc = cli("install", str(archive), check=False, env={"TMPDIR": str(scratch)})
    assert proc.returncode == 1
    assert "Refusing to unpack" in proc.stderr and "'p/q/r/esc' is a symbolic link" in proc.stderr
    assert "Traceback" not in proc.stderr and not (cli.home / "modules" / "probe").exists()


def _zeros_zip(path: Path, files: dict[str, int]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in module_members():
            zf.writestr(name.name, data.read())
        for name, size in files.items():
            zf.writestr(name, b"\0" * size)
    return path


@pytest.mark.parametrize(
    ("env", "files", "setting"),
    [
        ({"FINEHUB_ARCHIVE_MAX_BYTES": "1MiB"}, {"big.dat": 3 << 20}, "archive_max_bytes"),
        ({"FINEHUB_ARCHIVE_MAX_RATIO": "2"}, {"big.dat": 3 << 20}, "archive_max_ratio"),
        ({"FINEHUB_ARCHIVE_MAX_FILES": "5"}, {f"f{i}.txt": 1 for i in range(10)}, "archive_max_files"),
    ],
)
def test_zip_bomb_is_refused_before_anything_is_written(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch, env: dict, files: dict, setting: str
) -> None:
    archive = _zeros_zip(tmp_path / "bomb.zip", files)
    assert archive.stat().st_size < 100_000  # the whole point: small in, big out
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(errors.UnsafeArchiveError, match=setting) as err:
        store.install_archive(archive)
    assert f"FINEHUB_{setting.upper()}" in str(err.value)
    assert not (fresh_home / "modules" / "probe").exists()
    for key in env:
        monkeypatch.delenv(key)
    assert (
        store.install_archive(archive).path == fresh_home / "modules" / "probe" / "1.0.0"
    )  # defaults allow it


def test_tar_bomb_is_refused_from_its_header_with_the_configured_limit(
    tmp_path: Path, fresh_home: Path, cli
) -> None:
    # a header claiming 64 GiB of data that is not there: refused at the header, before reading any
    header = member("huge.bin")[0]
    header.size = 64 << 30
    archive = tmp_path / "bomb.tar"
    with tarfile.open(archive, "w") as tar:
        for info, data in module_members():
            tar.addfile(info, data)
        archive_bytes = tar.fileobj.tell()
    with open(archive, "r+b") as fh:  # append the lying header (and no data) before the end marker
        fh.seek(archive_bytes)
        fh.write(header.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024)
    with pytest.raises(errors.UnsafeArchiveError, match="archive_max_bytes") as err:
        store.install_archive(archive)
    assert err.value.member == "huge.bin"
    # the same limit through the config file, as `finehub config set` writes it
    cli("config", "set", "archive_max_bytes", "1KiB")
    proc = cli("install", str(_zeros_zip(tmp_path / "small.zip", {"k.bin": 4096})), check=False)
    assert proc.returncode == 1 and "archive_max_bytes=1024" in proc.stderr


def test_data_archives_keep_links_that_stay_inside(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "data.tar",
        [
            *FOLDERS,
            member("s/a.txt", data=b"alpha"),
            member("p/q/r/a", tarfile.SYMTYPE, linkname="../../../s/a.txt"),
        ],
    )
    dest = safe_extract(archive, tmp_path / "out", limits=ROOMY, allow_links=True)
    assert (dest / "p/q/r/a").read_bytes() == b"alpha"
    with pytest.raises(errors.UnsafeArchiveError, match="links are not allowed"):
        safe_extract(archive, tmp_path / "out2", limits=ROOMY)  # the default: no links at all


def test_data_unpack_refuses_the_ordering_escape_and_cleans_up(
    tmp_path: Path, fresh_home: Path, secret: Path
) -> None:
    from finehub.data import download

    archive = write_tar(tmp_path / "data.tar", [*FOLDERS, ESC, LNK])
    with pytest.raises(errors.UnsafeArchiveError, match="outside the destination"):
        download.unpack(archive)
    extracted = fresh_home / "datasets" / "extracted"
    assert [p.name for p in extracted.iterdir() if not p.name.endswith(".lock")] == []
