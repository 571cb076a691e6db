"""PaddleHub's command-line habits: `hub run` options, `hub serving start/stop`, `hub install NAME`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from finehub.cli.main import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_run_takes_hub_run_options(runner: CliRunner, tmp_path: Path) -> None:
    image = tmp_path / "team.jpg"
    Image.fromarray(data.astronaut()).save(image)
    out = tmp_path / "out"
    args = [
        "run",
        "face-detection-mtcnn",
        "--input_path",
        str(image),
        "--use_gpu",
        "False",
        "--batch_size",
        "1",
    ]
    result = runner.invoke(app, [*args, "--visualization", "True", "--output_dir", str(out)])
    assert result.exit_code == 0, result.output
    [[face]] = json.loads(result.output)
    assert Path(face["save_path"]).parent == out and Path(face["save_path"]).is_file()
    bad = runner.invoke(app, [*args, "--visualization", "maybe"])
    assert bad.exit_code != 0 and "--visualization takes True or False" in bad.output


def test_run_refuses_common_options_a_method_lacks(runner: CliRunner) -> None:
    from finehub.errors import ModuleInputError

    result = runner.invoke(app, ["run", "minilm-l6", "--input_text", "hello", "--visualization", "True"])
    assert isinstance(result.exception, ModuleInputError) and "--visualization" in str(result.exception)


def test_serving_start_and_stop_are_serve_and_serve_stop(runner: CliRunner, monkeypatch, tmp_path) -> None:
    import finehub.serving.server as server

    started, stopped = [], []
    monkeypatch.setattr(server, "check_modules", lambda cfg: None)
    monkeypatch.setattr(server, "serve", started.append)
    monkeypatch.setattr(server, "stop", lambda port, timeout: stopped.append(port) or 4321)
    config = tmp_path / "serving.json"
    config.write_text(json.dumps({"modules_info": {"lac": {}}, "port": 8866, "use_gpu": False}))
    result = runner.invoke(
        app,
        ["serving", "start", "-m", "minilm-l6", "-m", "ocr-ppocrv4", "-p", "9001", "--config", str(config)],
    )
    assert result.exit_code == 0, result.output
    [cfg] = started
    assert cfg.port == 9001 and list(cfg.modules_info) == ["lac", "minilm-l6", "ocr-ppocrv4"]
    result = runner.invoke(app, ["serving", "stop", "-p", "9001"])
    assert result.exit_code == 0 and stopped == [9001] and "pid 4321" in result.output


def test_install_without_a_version_picks_the_newest_compatible(monkeypatch, tmp_path: Path) -> None:
    from finehub.hub import loader

    def version(v: str, finehub: str) -> dict[str, str]:
        return {
            "version": v,
            "url": f"https://example.invalid/scaler-{v}.tar.gz",
            "sha256": "0" * 64,
            "finehub": finehub,
        }

    index = {
        "format": 1,
        "modules": [
            {
                "name": "scaler",
                "summary": "scales",
                "versions": [version("1.0.0", ""), version("1.2.0", ""), version("2.0.0", ">=99")],
            }
        ],
    }
    (tmp_path / "index.json").write_text(json.dumps(index))
    monkeypatch.setenv("FINEHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINEHUB_INDEX_URL", (tmp_path / "index.json").as_uri())
    cand = loader.resolve(
        *loader.split_requirement("scaler"), source="index"
    )  # what `finehub install scaler` resolves
    assert cand.version == "1.2.0"
    assert loader.resolve(*loader.split_requirement("scaler==1.0.0"), source="index").version == "1.0.0"
