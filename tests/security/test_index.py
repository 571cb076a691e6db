"""Module indexes whose fields try to become paths, or are simply malformed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import serve_folder

import finehub
from finehub import errors
from finehub.hub import index


def _write_index(folder: Path, modules: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.json"
    path.write_text(json.dumps({"format": 1, "modules": modules}))
    return path


def _module(name: str = "evil", **version) -> dict:
    return {"name": name, "versions": [{"version": "1.0.0", **version}]}


def test_sha256_used_as_a_path_is_refused_before_any_folder_is_made(
    tmp_path: Path, fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = tmp_path / "outside" / "made"
    rel = os.path.relpath(made, fresh_home / "cache" / "downloads")  # ../../../outside/made
    path = _write_index(tmp_path / "www", [_module(url="evil.tar.gz", sha256=rel)])
    monkeypatch.setenv("FINEHUB_INDEX_URL", str(path))
    with pytest.raises(errors.InvalidIndexError) as err:
        finehub.Module("evil")
    assert err.value.index == path.as_uri() and err.value.entry == "modules[0] 'evil' versions[0]"
    assert "sha256" in str(err.value) and "64 hexadecimal" in str(err.value)
    assert not (tmp_path / "outside").exists() and not (fresh_home / "cache").exists()


def test_download_cannot_be_pointed_at_an_outside_file(tmp_path: Path, cli) -> None:
    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir()
    secret.write_text("private")
    rel = os.path.relpath(secret, cli.home / "cache" / "downloads")
    modules = [
        _module("innocent", url="a.tar.gz", sha256="a" * 64),
        _module("evil", url="http://127.0.0.1:9/never", sha256=rel),  # no suffix: the cache path is the file
    ]
    path = _write_index(tmp_path / "www", modules)
    out = tmp_path / "out"
    proc = cli("download", "evil", "-o", str(out), check=False, env={"FINEHUB_INDEX_URL": str(path)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert str(path.as_uri()) in proc.stderr and "modules[1] 'evil' versions[0]" in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("modules", "entry", "problem"),
    [
        ([{"name": "x", "versions": [1]}], "modules[0] 'x' versions[0]", "a version must be an object"),
        (
            [_module("x", source="hf://o/r", config="x")],
            "modules[0] 'x' versions[0]",
            "'config' must be a dict",
        ),
        ([{"name": "x", "versions": "1.0"}], "modules[0]", "'versions' list"),
        (["x"], "modules[0]", "must be an object"),
        ([_module("..", source="hf://o/r")], "modules[0] '..'", "is not a module name"),
        ([_module("a/b", source="hf://o/r")], "modules[0] 'a/b'", "is not a module name"),
        (
            [{"name": "x", "versions": [{"version": 1.0, "source": "hf://o/r"}]}],
            "versions[0]",
            "is not a PEP 440 version",
        ),
        ([{"name": "x", "versions": [{"version": "../1", "source": "hf://o/r"}]}], "versions[0]", "PEP 440"),
        ([_module("x", url="x.tar.gz")], "versions[0]", "sha256 None is not a sha256"),
        ([_module("x", url=7, sha256="a" * 64)], "versions[0]", "'url' must be a str"),
        ([_module("x", url="ftp://h/x.tar.gz", sha256="a" * 64)], "versions[0]", "unsupported URL scheme"),
        ([_module("x", source="https://h/repo")], "versions[0]", "must be hf://"),
        ([_module("x", source="hf://o/r", finehub="soon")], "versions[0]", "not a version range"),
        ([_module("x", source="hf://o/r", entry="os.system('x')")], "versions[0]", "must look like"),
        ([{**_module("x", source="hf://o/r"), "tags": "zh"}], "modules[0] 'x'", "'tags' must be a list"),
    ],
)
def test_malformed_entries_name_the_index_and_the_entry(
    tmp_path: Path, fresh_home: Path, modules: list, entry: str, problem: str
) -> None:
    path = _write_index(tmp_path / "www", modules)
    with pytest.raises(errors.InvalidIndexError) as err:
        index.fetch_index(str(path))
    assert err.value.index == path.as_uri() and entry in err.value.entry
    assert problem in str(err.value), str(err.value)
    assert "finehub config unset index_url" in str(err.value)


def test_malformed_index_is_one_clear_line_in_the_cli(tmp_path: Path, cli) -> None:
    path = _write_index(tmp_path / "www", [{"name": "x", "versions": [1]}])
    proc = cli("install", "x", check=False, env={"FINEHUB_INDEX_URL": str(path)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"the module index {path.as_uri()} (modules[0] 'x' versions[0])" in proc.stderr


def test_index_that_is_not_json_is_refused_clearly(tmp_path: Path, fresh_home: Path) -> None:
    path = tmp_path / "index.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(errors.InvalidIndexError, match="not valid JSON"):
        index.fetch_index(str(path))


def test_http_index_may_not_point_at_local_files(tmp_path: Path, fresh_home: Path) -> None:
    root = tmp_path / "www"
    _write_index(root, [_module("x", url="file:///etc/passwd", sha256="a" * 64)])
    with serve_folder(root) as base, pytest.raises(errors.InvalidIndexError, match="local file"):
        index.fetch_index(base + "index.json")


def test_valid_index_still_parses(tmp_path: Path, fresh_home: Path) -> None:
    path = _write_index(
        tmp_path / "www",
        [
            {
                "name": "ok-module.v2",
                "summary": "s",
                "tags": ["t"],
                "versions": [
                    {"version": "1.0.0", "url": "ok.tar.gz", "sha256": "A" * 64, "finehub": ">=0.1"},
                    {
                        "version": "2.0.0rc1",
                        "source": "hf://o/r@main",
                        "entry": "finehub.modules.x:Y",
                        "config": {},
                    },
                ],
            }
        ],
    )
    parsed = index.fetch_index(str(path))
    first, second = parsed.versions
    assert first.url == (tmp_path / "www" / "ok.tar.gz").as_uri() and first.sha256 == "a" * 64
    assert second.source == "hf://o/r@main" and parsed.names() == ["ok-module.v2"]
