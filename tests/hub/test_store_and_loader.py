"""The module system end to end: folders, archives, a real HTTP index on loopback, safety checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from support import make_archive, make_module, write_index

import finehub
from finehub import errors
from finehub.hub import loader, store

FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"


def test_folder_module_loads_by_path_and_predicts(tmp_path: Path, fresh_home: Path) -> None:
    folder = make_module(tmp_path, weight=3.0)
    module = finehub.Module(str(folder), offset=1.0)
    assert module.scale([1.0, 2.0]) == [4.0, 7.0]
    assert module.predict([0.5]) == [2.5]
    assert module.info.name == "scaler" and module.info.version == "1.0.0"


def test_install_folder_then_load_by_name_with_version_constraints(tmp_path: Path, fresh_home: Path) -> None:
    store.install_folder(make_module(tmp_path / "a", version="1.0.0", weight=1.0))
    store.install_folder(make_module(tmp_path / "b", version="1.2.0", weight=2.0))
    store.install_folder(make_module(tmp_path / "c", version="2.0.0", weight=3.0))
    assert finehub.Module("scaler").scale([1.0]) == [3.0]  # highest version wins
    assert finehub.Module("scaler", version="1.0.0").scale([1.0]) == [1.0]
    assert finehub.Module("scaler>=1.1,<2").scale([1.0]) == [2.0]
    with pytest.raises(errors.ModuleNotFoundInHubError) as err:
        finehub.Module("scaler==9.9")
    msg = str(err.value)
    assert "scaler==1.0.0" in msg and "does not satisfy ==9.9" in msg  # every version seen, and why not


def test_unknown_name_suggests_close_matches(fresh_home: Path) -> None:
    with pytest.raises(errors.ModuleNotFoundInHubError) as err:
        finehub.Module("minilm-l7")
    assert "minilm-l6" in err.value.close_matches


def test_incompatible_finehub_range_is_rejected_with_reason(tmp_path: Path, fresh_home: Path) -> None:
    store.install_folder(make_module(tmp_path, finehub=">=99"))
    with pytest.raises(errors.ModuleNotFoundInHubError) as err:
        finehub.Module("scaler")
    assert "needs finehub>=99" in str(err.value)


def test_tampered_asset_is_refused_at_load(tmp_path: Path, fresh_home: Path) -> None:
    installed = store.install_folder(make_module(tmp_path))
    weights = installed.path / "weights.safetensors"
    time.sleep(0.01)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(errors.IntegrityError) as err:
        finehub.Module("scaler")
    assert err.value.path.endswith("weights.safetensors")


def test_pickle_files_are_refused_unless_opted_in(tmp_path: Path, fresh_home: Path) -> None:
    folder = make_module(tmp_path, extra_files={"extra.pt": b"\x80\x04K\x01."})
    with pytest.raises(errors.PickleRefusedError) as err:
        store.install_folder(folder)
    assert "allow_pickle=True" in str(err.value)
    assert not (fresh_home / "modules" / "scaler" / "1.0.0").exists()
    store.install_folder(folder, allow_pickle=True)
    assert finehub.Module("scaler", allow_pickle=True).scale([1.0]) == [2.0]


def test_load_state_dict_refuses_pickle(tmp_path: Path) -> None:
    import torch

    from finehub.hub.weights import load_state_dict

    path = tmp_path / "w.pth"
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(errors.PickleRefusedError):
        load_state_dict(path)
    assert torch.equal(load_state_dict(path, allow_pickle=True)["w"], torch.ones(1))


def test_archive_install_and_pack_round_trip(tmp_path: Path, fresh_home: Path) -> None:
    folder = make_module(tmp_path / "src", version="1.1.0")
    archive, entry = store.pack(folder, tmp_path)
    assert archive.name == "scaler-1.1.0.tar.gz" and len(entry["sha256"]) == 64
    mod = store.install_archive(archive)
    assert mod.path == fresh_home / "modules" / "scaler" / "1.1.0"
    assert finehub.Module("scaler").scale([2.0]) == [4.0]
    store.uninstall("scaler")
    with pytest.raises(errors.ModuleNotFoundInHubError):
        finehub.Module("scaler")


def _evil_tar(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    import io

    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps({"name": "evil", "version": "1.0.0", "entry": "module.py:X"}).encode()
        info = tarfile.TarInfo("module.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        if member.isreg():
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        else:
            tar.addfile(member)
    return path


@pytest.mark.parametrize(
    "kind",
    ["traversal", "absolute", "symlink_out", "hardlink_out", "device"],
)
def test_unsafe_archives_are_refused(tmp_path: Path, fresh_home: Path, kind: str) -> None:
    member = {
        "traversal": tarfile.TarInfo("../../escape.txt"),
        "absolute": tarfile.TarInfo("/tmp/escape.txt"),
        "symlink_out": tarfile.TarInfo("link"),
        "hardlink_out": tarfile.TarInfo("hard"),
        "device": tarfile.TarInfo("dev"),
    }[kind]
    if kind == "symlink_out":
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif kind == "hardlink_out":
        member.type, member.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    elif kind == "device":
        member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 1, 3
    archive = _evil_tar(tmp_path / f"{kind}.tar.gz", member)
    with pytest.raises(errors.UnsafeArchiveError):
        store.install_archive(archive)
    assert not (fresh_home / "modules" / "evil").exists()
    assert not (tmp_path.parent / "escape.txt").exists()


def test_http_index_install_selects_versions_and_checks_sha(
    tmp_path: Path, fresh_home: Path, http_root, monkeypatch
) -> None:
    root, base = http_root
    a1 = make_archive(make_module(tmp_path / "1", version="1.0.0", weight=1.0), root)
    a2 = make_archive(make_module(tmp_path / "2", version="2.0.0", weight=2.0), root)
    a3 = make_archive(make_module(tmp_path / "3", version="3.0.0", weight=3.0, finehub=">=50"), root)
    write_index(root, [(a1, "1.0.0", ">=0.1"), (a2, "2.0.0", ">=0.1"), (a3, "3.0.0", ">=50")])
    monkeypatch.setenv("FINEHUB_INDEX_URL", base + "index.json")

    assert finehub.Module("scaler").scale([1.0]) == [2.0]  # 3.0.0 needs another finehub
    assert (fresh_home / "modules" / "scaler" / "2.0.0" / "module.json").is_file()
    assert finehub.Module("scaler==1.0.0").scale([1.0]) == [1.0]

    # the index pins a sha256 the archive does not have: refused, nothing installed
    a4 = make_archive(make_module(tmp_path / "4", version="4.0.0"), root)
    index = json.loads((root / "index.json").read_text())
    index["modules"][0]["versions"].append({"version": "4.0.0", "url": a4.name, "sha256": "0" * 64})
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(errors.IntegrityError):
        finehub.Module("scaler==4.0.0")
    assert not (fresh_home / "modules" / "scaler" / "4.0.0").exists()


def test_unreachable_index_fails_fast_with_offline_error(fresh_home: Path, monkeypatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setenv("FINEHUB_INDEX_URL", f"http://127.0.0.1:{port}/index.json")
    start = time.monotonic()
    with pytest.raises(errors.OfflineError) as err:
        finehub.Module("only-on-the-index")
    assert time.monotonic() - start < 5
    assert "finehub install" in str(err.value)


def test_offline_mode_refuses_http_without_trying(fresh_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINEHUB_INDEX_URL", "http://192.0.2.1/index.json")  # never contacted
    monkeypatch.setenv("FINEHUB_OFFLINE", "1")
    with pytest.raises(errors.OfflineError) as err:
        finehub.Module("only-on-the-index")
    assert "offline mode" in str(err.value)


def test_concurrent_installs_of_one_module_end_with_one_copy(tmp_path: Path, fresh_home: Path) -> None:
    archive = make_archive(make_module(tmp_path / "src"), tmp_path)
    env = {**os.environ, "FINEHUB_HOME": str(fresh_home)}
    procs = [
        subprocess.Popen(
            [FINEHUB, "install", str(archive)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    target = fresh_home / "modules" / "scaler" / "1.0.0"
    assert all(str(target) in out for out, _ in outputs)
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["1.0.0"]
    assert finehub.Module("scaler").scale([1.0]) == [2.0]


def test_bad_manifest_names_the_problem(tmp_path: Path, fresh_home: Path) -> None:
    folder = make_module(tmp_path)
    data = json.loads((folder / "module.json").read_text())
    data["colour"] = "blue"
    (folder / "module.json").write_text(json.dumps(data))
    with pytest.raises(errors.InvalidManifestError) as err:
        store.install_folder(folder)
    assert "colour" in str(err.value)


def test_bundled_index_lists_chinese_encoders_offline(fresh_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINEHUB_OFFLINE", "1")
    names = {c.name for c in loader.all_candidates() if "chinese" in c.tags}
    assert {"ernie-3.0-medium-zh", "bert-base-chinese"} <= names


def test_duplicate_entry_point_names_are_an_error(monkeypatch) -> None:
    from importlib.metadata import EntryPoint

    eps = [
        EntryPoint("dup", "finehub.modules.minilm_l6:MiniLML6", loader.ENTRY_POINT_GROUP),
        EntryPoint("dup", "other.package:Thing", loader.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: eps)
    loader.entry_point_candidates.cache_clear()
    try:
        with pytest.raises(errors.DuplicateModuleError):
            loader.entry_point_candidates()
    finally:
        loader.entry_point_candidates.cache_clear()
