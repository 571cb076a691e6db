"""An empty FINEHUB_HOME per test, and the real ``finehub`` command running against it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"
_LIMIT_VARS = [
    f"FINEHUB_{kind}_{what}" for kind in ("INDEX", "DOWNLOAD") for what in ("MAX_BYTES", "TIMEOUT")
] + [f"FINEHUB_ARCHIVE_MAX_{what}" for what in ("BYTES", "FILES", "RATIO")]


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FINEHUB_HOME, no index and default limits, for this test and its subprocesses."""
    home = tmp_path / "home"
    monkeypatch.setenv("FINEHUB_HOME", str(home))
    for var in ["FINEHUB_INDEX_URL", "FINEHUB_OFFLINE", *_LIMIT_VARS]:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def cli(fresh_home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """``cli(*args, check=True, env=None)`` runs ``finehub`` with FINEHUB_HOME = ``fresh_home``."""

    def run(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [FINEHUB, *args],
            env={**os.environ, "COLUMNS": "1000", **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"finehub {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.home = fresh_home  # type: ignore[attr-defined]
    return run
