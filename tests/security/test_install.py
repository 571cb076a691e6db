"""Installing module folders and archives: links, names, entries, pickles and forged records."""

from __future__ import annotations

import json
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest
from security.security_support import PROBE_PY, member, module_members, write_module, write_tar

import finehub
from finehub import errors
from finehub.hub import store
from finehub.hub.weights import is_pickle, load_state_dict

FOREIGN_PY = PROBE_PY + "\nimport pathlib, os\npathlib.Path(os.environ['PROBE_MARK']).write_text('ran')\n"


def test_symlinked_entry_file_is_refused_and_never_runs(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = tmp_path / "foreign-code-ran"
    monkeypatch.setenv("PROBE_MARK", str(mark))
    foreign = tmp_path / "elsewhere" / "code.py"
    foreign.parent.mkdir()
    foreign.write_text(FOREIGN_PY)
    folder = write_module(tmp_path / "mod")
    (folder / "module.py").unlink()
    (folder / "module.py").symlink_to(foreign)

    with pytest.raises(errors.InvalidManifestError, match="outside the module folder"):
        finehub.Module(str(folder))  # loading the folder directly already refused it
    with pytest.raises(errors.UnsafeModuleError, match="'module.py' is a symbolic link") as err:
        store.install_folder(folder)
    assert err.value.path == "module.py" and str(folder) in str(err.value)
    assert not (fresh_home / "modules" / "probe").exists()
    with pytest.raises(errors.ModuleNotFoundInHubError):
        finehub.Module("probe")
    assert not mark.exists()


def test_links_inside_the_folder_and_link_loops_are_refused(tmp_path: Path, fresh_home: Path) -> None:
    inner = write_module(tmp_path / "inner")
    (inner / "alias.py").symlink_to("module.py")  # resolves inside, but an installed tree has no links
    with pytest.raises(errors.UnsafeModuleError, match="'alias.py' is a symbolic link"):
        store.install_folder(inner)

    loop = write_module(tmp_path / "loop")
    (loop / "sub").mkdir()
    (loop / "sub" / "up").symlink_to("..")  # copying through it would never end
    (loop / "a").symlink_to("b")
    (loop / "b").symlink_to("a")
    with pytest.raises(errors.UnsafeModuleError, match="is a symbolic link"):
        store.install_folder(loop)
    assert not (fresh_home / "modules" / "probe").exists()


def test_fifo_in_a_module_folder_is_refused(tmp_path: Path, fresh_home: Path) -> None:
    folder = write_module(tmp_path / "mod")
    os.mkfifo(folder / "pipe")
    with pytest.raises(errors.UnsafeModuleError, match="'pipe' is a device file, FIFO or socket"):
        store.install_folder(folder)


@pytest.mark.parametrize(
    "name", ["..", ".", "a/b", "a\\b", ".hidden", "-rf", "a..b", "", "with space", "é", 7]
)
def test_bad_module_names_are_refused_before_any_path_is_made(tmp_path: Path, fresh_home: Path, name) -> None:
    folder = write_module(tmp_path / "mod", name=name)
    with pytest.raises(errors.InvalidNameError, match="is not a module name") as err:
        store.install_folder(folder)
    assert err.value.field == "name" and str(folder / "module.json") in str(err.value)
    assert not fresh_home.exists() or list(fresh_home.rglob("*")) == []
    with pytest.raises(errors.InvalidNameError):
        store.install_archive(write_tar(tmp_path / "m.tar.gz", module_members(name=name)))


@pytest.mark.parametrize("version", ["../1.0", "1.0/../..", "", " 1.0", "1.0\n", "latest", 1, None])
def test_bad_versions_are_refused(tmp_path: Path, fresh_home: Path, version) -> None:
    with pytest.raises(errors.InvalidNameError, match="is not a PEP 440 version"):
        store.install_folder(write_module(tmp_path / "mod", version=version))
    assert not fresh_home.exists() or list(fresh_home.rglob("*")) == []


def test_good_names_and_versions_install_and_uninstall(tmp_path: Path, fresh_home: Path) -> None:
    for name, version in [("A.b_c-9", "1!2.0rc1.post3+local.7"), ("x", "0")]:
        mod = store.install_folder(write_module(tmp_path / name, name=name, version=version))
        assert mod.path == fresh_home / "modules" / name / version
        assert store.uninstall(name) == [mod.path]


def test_uninstall_refuses_path_like_names(cli) -> None:
    for bad in ("..", "../x", "x==../1"):
        proc = cli("uninstall", bad, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "is not a" in proc.stderr


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("nonexistent_mod:Cls", "needs the package 'nonexistent_mod', which is not installed"),
        ("module.py", "must look like 'package.module:Class'"),
        ("module.py:", "must look like"),
        ("module.py:Probe()", "must look like"),
        ("../module.py:Probe", "must look like"),
        ("/abs/module.py:Probe", "must look like"),
        ("missing.py:Probe", "'missing.py' is missing from the module folder"),
        ("", "must look like"),
    ],
)
def test_bad_entry_is_refused_at_install_without_importing(
    tmp_path: Path, fresh_home: Path, entry: str, problem: str
) -> None:
    with pytest.raises(errors.InvalidManifestError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        store.install_folder(write_module(tmp_path / "mod", entry=entry))
    assert not (fresh_home / "modules" / "probe").exists()  # no folder, no stale lock


def test_failed_install_leaves_no_stale_lock(tmp_path: Path, fresh_home: Path) -> None:
    store.install_folder(write_module(tmp_path / "v1"))
    bad = write_module(tmp_path / "v2", version="2.0.0", entry="nonexistent_mod:Cls")
    with pytest.raises(errors.InvalidManifestError):
        store.install_folder(bad)
    leftovers = sorted(p.name for p in (fresh_home / "modules" / "probe").iterdir())
    assert leftovers in (["1.0.0"], [".1.0.0.lock", "1.0.0"])  # 2.0.0 left nothing, not even its lock


def _torch_zip(path: Path) -> Path:
    """What torch.save writes: a zip holding <name>/data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        zf.writestr("archive/version", "3\n")
    return path


def _safetensors_starting_like_pickle(path: Path) -> Path:
    """A valid safetensors file whose 8-byte header length is 0x280: its first bytes are 80 02."""
    header = {"__metadata__": {"pad": ""}}
    pad = 0x280 - len(json.dumps(header, separators=(",", ":")))
    header["__metadata__"]["pad"] = "x" * pad
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) == 0x280
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    return path


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("weights.PT", "plain"),  # by name, whatever the case; the bytes alone would not tell
        ("Model.PTH", "plain"),
        ("model.pth.tar", "plain"),
        ("clf.joblib", "plain"),
        ("state.Pickle", "plain"),
        ("raw.dat", "pickle"),  # by content, whatever the name
        ("torch-renamed.dat", "torch"),
    ],
)
def test_pickles_are_found_by_name_in_any_case_and_by_content(
    tmp_path: Path, fresh_home: Path, name: str, content: str
) -> None:
    folder = write_module(tmp_path / "mod")
    if content == "torch":
        _torch_zip(folder / name)
    else:
        (folder / name).write_bytes(
            pickle.dumps({"w": [1.0]}, protocol=4) if content == "pickle" else b"plain"
        )
    assert is_pickle(folder / name)
    with pytest.raises(errors.PickleRefusedError) as err:
        store.install_folder(folder)
    assert err.value.path == f"{folder}: {name}"  # the source, not the temporary copy
    assert not (fresh_home / "modules" / "probe").exists()
    with pytest.raises(errors.PickleRefusedError):
        load_state_dict(folder / name)
    assert store.install_folder(folder, allow_pickle=True).path.is_dir()  # the explicit opt-in still works


def test_safetensors_and_plain_zips_are_not_pickles(tmp_path: Path, fresh_home: Path) -> None:
    folder = write_module(tmp_path / "mod")
    tensors = _safetensors_starting_like_pickle(folder / "w.safetensors")
    assert tensors.read_bytes()[:2] == b"\x80\x02" and not is_pickle(tensors)
    assert load_state_dict(tensors) == {}
    with zipfile.ZipFile(folder / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert not is_pickle(folder / "docs.zip")
    store.install_folder(folder)


def test_forged_verification_record_in_an_archive_is_ignored(tmp_path: Path, fresh_home: Path) -> None:
    # The asset is pinned to the hash of b"good", the archive ships b"evil" plus a .verified.json whose
    # size/mtime stamp matches the evil file, hoping the install skips hashing it.
    import hashlib

    good_sha = hashlib.sha256(b"good").hexdigest()
    manifest = {
        "name": "probe",
        "version": "1.0.0",
        "entry": "module.py:Probe",
        "assets": [{"path": "asset.txt", "sha256": good_sha}],
    }
    evil = member("asset.txt", data=b"evil")
    record = {"asset.txt": [4, evil[0].mtime * 10**9, good_sha]}
    archive = write_tar(
        tmp_path / "forged.tar.gz",
        [
            member("module.json", data=json.dumps(manifest).encode()),
            member("module.py", data=PROBE_PY.encode()),
            evil,
            member(".verified.json", data=json.dumps(record).encode()),
        ],
    )
    with pytest.raises(errors.IntegrityError) as err:
        store.install_archive(archive)
    assert err.value.path == f"{archive}: asset.txt"
    assert not (fresh_home / "modules" / "probe").exists()


def test_a_plain_archive_installs_as_regular_files_and_loads(tmp_path: Path, fresh_home: Path) -> None:
    archive = write_tar(tmp_path / "ok.tar.gz", [member("sub", tarfile.DIRTYPE), *module_members()])
    mod = store.install_archive(archive)
    assert not [p for p in mod.path.rglob("*") if p.is_symlink()]
    assert finehub.Module("probe").predict([1, 2]) == [1, 2]
