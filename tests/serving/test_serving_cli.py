"""`finehub serve` and `finehub serve stop`: a real server process, started and stopped by the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from finehub.cli.serve import register
from finehub.errors import ModuleNotFoundInHubError, ServerStateError
from finehub.serving.server import pid_file

# the `serve` group on a Typer app of its own, as the finehub console script mounts it
LOCAL_CLI = "import typer; from finehub.cli.serve import register; app = typer.Typer(); register(app); app()"
FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable))


def local_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command, so `serve` stays a sub-command as in the real CLI
        """finehub's version."""

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def installed_echo(tmp_path: Path, finehub_home: str) -> str:
    """The test classifier as an installed folder module, resolvable by name."""
    from finehub.hub import store

    folder = tmp_path / "echo-module"
    folder.mkdir()
    shutil.copy(Path(__file__).with_name("serving_modules.py"), folder / "module.py")
    (folder / "module.json").write_text(
        json.dumps(
            {
                "name": "echo-classifier",
                "version": "1.2.0",
                "task": "text-classification",
                "entry": "module.py:EchoClassifier",
                "inputs": {"texts": "texts to classify"},
            }
        )
    )
    store.install_folder(folder, force=True)
    return "echo-classifier"


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)


def start(procs: list[subprocess.Popen], cmd: list[str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    procs.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server not ready within 60 s:\n{log.read_text()}")


def test_serve_then_stop(installed_echo: str, started: list, tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-c", LOCAL_CLI, "serve", "-m", f"{installed_echo}==1.2.0", "--port", str(port)]
    proc = start(started, cmd, port, tmp_path / "server.log")
    assert pid_file(port).read_text().strip() == str(proc.pid)

    r = httpx.post(f"http://127.0.0.1:{port}/predict/{installed_echo}", json={"texts": ["abcdefgh"]})
    assert r.json() == {"status": "000", "msg": "", "results": [{"label": "long", "length": 8}]}

    # a second server on the same port is refused before it starts
    again = CliRunner().invoke(local_app(), ["serve", "-m", installed_echo, "--port", str(port)])
    assert isinstance(again.exception, ServerStateError) and "finehub serve stop" in str(again.exception)

    result = CliRunner().invoke(local_app(), ["serve", "stop", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"Stopped the finehub server on port {port} (pid {proc.pid})" in result.output
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended
    assert proc.wait(10) in (0, -signal.SIGTERM)
    assert "Finished server process" in (tmp_path / "server.log").read_text()
    assert not pid_file(port).exists()


def test_unknown_module_fails_before_serving() -> None:
    result = CliRunner().invoke(local_app(), ["serve", "-m", "no-such-module", "--port", str(free_port())])
    assert isinstance(result.exception, ModuleNotFoundInHubError)


def test_stop_without_server() -> None:
    port = free_port()
    result = CliRunner().invoke(local_app(), ["serve", "stop", "--port", str(port)])
    assert isinstance(result.exception, ServerStateError) and f"Port {port}" in str(result.exception)


def test_config_file_errors_name_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "serving.json"
    cfg.write_text(json.dumps({"modules_info": {"x": {}}, "max_batch_size": 0}))
    result = CliRunner().invoke(local_app(), ["serve", "-c", str(cfg)])
    assert "max_batch_size" in str(result.exception)


def _console_script_serves() -> bool:
    if FINEHUB is None:
        return False
    return subprocess.run([FINEHUB, "serve", "--help"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.slow
def test_console_script_with_workers_and_config_file(
    installed_echo: str, started: list, tmp_path: Path
) -> None:
    if not _console_script_serves():
        pytest.skip("the finehub console script has no `serve` command yet")
    port = free_port()
    cfg = tmp_path / "serving.json"
    cfg.write_text(
        json.dumps(
            {
                "modules_info": {
                    installed_echo: {"init_args": {"version": "1.2.0"}, "predict_args": {"threshold": 20}}
                },
                "port": port,
                "workers": 2,
                "timeout": 30,
            }
        )
    )
    log = tmp_path / "server.log"
    start(started, [FINEHUB, "serve", "-c", str(cfg)], port, log)
    r = httpx.post(f"http://127.0.0.1:{port}/predict/{installed_echo}", json={"texts": ["abcdefgh"]})
    assert r.json()["results"] == [{"label": "short", "length": 8}]  # threshold 20 from predict_args
    stop = subprocess.run(
        [FINEHUB, "serve", "stop", "--port", str(port)], capture_output=True, text=True, timeout=90
    )
    assert stop.returncode == 0, stop.stderr
    assert started[0].wait(30) in (0, -signal.SIGTERM)
    assert log.read_text().count("Finished server process") == 2  # both workers shut down gracefully
