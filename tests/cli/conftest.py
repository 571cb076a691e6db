"""Run the real ``finehub`` console script in a subprocess with its own FINEHUB_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    home = tmp_path / "home"

    def run(
        *args: str, check: bool = True, env: dict | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "FINEHUB_HOME": str(home), **(env or {})}
        full_env.pop("FINEHUB_INDEX_URL", None) if env is None or "FINEHUB_INDEX_URL" not in env else None
        proc = subprocess.run([FINEHUB, *args], env=full_env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"finehub {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    run.home = home  # type: ignore[attr-defined]
    return run
