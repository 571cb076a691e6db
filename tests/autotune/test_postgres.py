"""Two runners on one PostgreSQL study, as on two machines (a throwaway server on loopback).

CI needs the server binaries: ``apt-get install -y postgresql`` (Debian puts them in
/usr/lib/postgresql/<version>/bin, which the fixture searches; nothing needs to run as a service).
As root, the server runs as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import cli_command

pytestmark = pytest.mark.slow


def _pg_bindir() -> Path | None:
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries not found on PATH or in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="finehub-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_two_runners_join_one_postgres_study(postgres_url: str, trainee, tmp_path: Path) -> None:
    import optuna

    script, hparam = trainee
    events = tmp_path / "events.txt"
    runners = [
        subprocess.Popen(
            cli_command(
                str(script),
                "--param-file",
                str(hparam),
                "--tuner",
                "hazero",
                "--popsize",
                "4",
                "--rounds",
                "2",
                "--storage",
                postgres_url,
                "--study",
                "shared",
                "--output-dir",
                str(tmp_path / f"machine{i}"),
                "--",
                "--sleep=0.5",
                f"--events={events}",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [r.communicate(timeout=300)[0] for r in runners]
    assert [r.returncode for r in runners] == [0, 0], "\n".join(outputs)
    assert all("8 of 8 trials complete." in out for out in outputs)
    study = optuna.load_study(
        study_name="shared", storage=postgres_url.replace("postgresql://", "postgresql+psycopg2://")
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 8
    assert sorted((t.user_attrs["round"], t.user_attrs["slot"]) for t in study.trials) == [
        (r, s) for r in range(2) for s in range(4)
    ]
    assert len({t.system_attrs["finehub:pid"] for t in study.trials}) == 2  # both runners ran trials
    starts = [line for line in events.read_text().splitlines() if line.startswith("start")]
    assert len(starts) == 8
    for i in range(2):  # each machine writes its own report from the shared study
        assert "8 complete, 0 failed" in (tmp_path / f"machine{i}" / "report.md").read_text()
