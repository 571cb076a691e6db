"""The module commands end to end through the installed console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import make_module, serve_folder


def test_help_and_version(cli) -> None:
    out = cli("--help").stdout
    for command in ("list", "search", "show", "install", "uninstall", "download", "run", "config", "doctor"):
        assert command in out
    import finehub

    assert cli("version").stdout.strip() == finehub.__version__


def test_install_list_show_run_uninstall_a_folder_module(cli, tmp_path: Path) -> None:
    folder = make_module(tmp_path, weight=2.5)
    assert "Installed scaler==1.0.0" in cli("install", str(folder)).stdout
    rows = json.loads(cli("list", "--json").stdout)
    scaler = next(r for r in rows if r["name"] == "scaler")
    assert scaler["versions"] == {"local": "1.0.0"}
    shown = json.loads(cli("show", "scaler", "--json").stdout)
    assert (
        shown["version"] == "1.0.0"
        and shown["source"] == "local"
        and shown["assets"][0]["path"] == "weights.safetensors"
    )
    assert json.loads(cli("run", "scaler", "--input-text", "2", "--input-text", "4").stdout) == [5.0, 10.0]
    assert json.loads(cli("run", "scaler", "--input-text", "2", "--arg", "factor=2").stdout) == [10.0]
    bad = cli("run", "scaler", "--input-text", "2", "--arg", "colour=1", check=False)
    assert bad.returncode == 1 and "colour" in bad.stderr and "factor" in bad.stderr
    assert "Removed" in cli("uninstall", "scaler").stdout
    gone = cli("run", "scaler", "--input-text", "1", check=False)
    assert gone.returncode == 1 and "No module named 'scaler'" in gone.stderr


def test_search_reads_the_bundled_index_offline(cli) -> None:
    rows = json.loads(cli("search", "chinese", "--json", env={"FINEHUB_OFFLINE": "1"}).stdout)
    names = {r["name"] for r in rows}
    assert {"ernie-3.0-medium-zh", "bert-base-chinese", "bge-small-zh-v1.5"} <= names


def test_index_install_download_and_pack(cli, tmp_path: Path, http_root) -> None:
    root, base = http_root
    folder = make_module(tmp_path / "src", version="1.3.0")
    packed = cli("pack", str(folder), "-o", str(root)).stdout
    entry = json.loads(packed[packed.index("{") :])
    index = {"format": 1, "modules": [{"name": "scaler", "summary": "scales", "versions": [entry]}]}
    (root / "index.json").write_text(json.dumps(index))
    env = {"FINEHUB_INDEX_URL": base + "index.json"}
    assert "scaler" in cli("search", "scal", env=env).stdout
    out_dir = tmp_path / "dl"
    cli("download", "scaler==1.3.0", "-o", str(out_dir), env=env)
    assert (out_dir / "scaler-1.3.0.tar.gz").is_file()
    assert "Installed scaler==1.3.0" in cli("install", "scaler", env=env).stdout
    assert json.loads(cli("run", "scaler", "--input-text", "1", env=env).stdout) == [2.0]


def test_config_set_show_unset(cli) -> None:
    cli("config", "set", "index_url", "file:///tmp/x/index.json")
    assert json.loads(cli("config").stdout)["index_url"] == "file:///tmp/x/index.json"
    bad = cli("config", "set", "colour", "blue", check=False)
    assert bad.returncode == 1 and "unknown setting" in bad.stderr
    cli("config", "unset", "index_url")
    assert json.loads(cli("config").stdout)["index_url"] is None


def test_unknown_module_error_is_one_clear_line(cli) -> None:
    proc = cli("show", "minilm-l7", check=False)
    assert proc.returncode == 1
    assert "Did you mean: minilm-l6" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_index_is_reported_by_doctor(cli) -> None:
    proc = cli("doctor", env={"FINEHUB_INDEX_URL": "http://127.0.0.1:9/index.json"})
    assert "unreachable" in proc.stdout
    assert "minilm-l6" in proc.stdout


@pytest.fixture
def http_root(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    with serve_folder(root) as url:
        yield root, url
