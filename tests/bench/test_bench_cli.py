"""`finehub bench` through its Typer command, and the suite's selection of benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from finehub.bench import suite
from finehub.cli.bench import register
from finehub.errors import ConfigError
from finehub.nn.device import bf16_supported


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_list_names_every_benchmark(app) -> None:
    out = CliRunner().invoke(app, ["--list"]).stdout
    for bm in suite.BENCHMARKS:
        assert bm.name in out


def test_selection_quick_leaves_out_the_long_runs() -> None:
    assert [b.name for b in suite.selected("all", quick=False)] == [b.name for b in suite.BENCHMARKS]
    quick = [b.name for b in suite.selected("all", quick=True)]
    assert "parity" not in quick and "demo" not in quick
    assert [b.name for b in suite.selected("embed", quick=True)] == ["embed"]
    with pytest.raises(ConfigError, match="startup"):
        suite.selected("embedd", quick=False)


def test_external_scripts_are_found_in_the_benchmarks_folder(tmp_path: Path) -> None:
    assert suite.external_scripts(tmp_path) == []
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "serving_load.py").write_text("")
    assert suite.external_scripts(tmp_path) == [tmp_path / "benchmarks" / "serving_load.py"]


@pytest.mark.slow
def test_quick_matmul_run_prints_a_table_and_writes_json(app, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["matmul", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "matmul.json").read_text())
    assert data["params"]["quick"] is True and data["params"]["threads"] == 2
    names = [c["name"] for c in data["contenders"]]
    bf16 = bf16_supported(torch.device("cpu"))  # bf16 matmuls only where the CPU has them
    shapes = ["1024²", "ffn 4096×384×1536"]
    torch_mm = [f"{d} {s}" for s in shapes for d in (("fp32", "bf16") if bf16 else ("fp32",))]
    libraries = [f"fp32 ffn 4096×384×1536 {lib}" for lib in ("oneDNN", "OpenBLAS", "MLAS")]
    assert names == torch_mm + libraries
    figures = {f["name"] for f in data["figures"]}
    assert ("bf16 / fp32 1024²" in figures) == bf16
    assert {"oneDNN / torch (MKL) fp32", "OpenBLAS / torch (MKL) fp32", "MLAS / torch (MKL) fp32"} <= figures
    assert all(len(c["seconds"]) == 5 and c["rates"]["gflop_per_s"] > 0 for c in data["contenders"])
    assert set(data["machine"]["load_avg_1m"]) == {"before", "after"}


@pytest.mark.slow
def test_quick_classify_run_compares_eager_and_onnx_answers(app, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "classify.json").read_text())
    figures = {f["name"]: f["value"] for f in data["figures"]}
    assert figures["eager fp32: accuracy"] > 80  # 5 balanced topics: chance is 20 %
    assert figures["ONNX Runtime fp32: answers as eager fp32"] >= 99
    assert figures["ONNX Runtime int8: answers as eager fp32"] >= 90
    assert {c["name"] for c in data["contenders"]} >= {"eager fp32", "ONNX Runtime fp32", "ONNX Runtime int8"}
