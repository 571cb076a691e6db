"""Startup: how long `import finehub` and `finehub --help` take, each in a fresh interpreter.

Contenders are subprocesses run alternately: a bare interpreter (the floor), `import finehub`,
`finehub --help`, and `import torch` (what every command would pay if finehub imported its heavy
dependencies eagerly). The target is absolute because a user feels it as such: --help < 0.5 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from finehub.bench.harness import BenchResult, Contender, Figure, alternate, ratio

HELP_TARGET_S = 0.5


def _command(args: list[str]) -> Contender:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def go() -> None:
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return Contender(" ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(args)), go)


def run(*, quick: bool, threads: int) -> BenchResult:
    py = sys.executable
    script = shutil.which("finehub", path=os.path.dirname(py))
    help_args = [script, "--help"] if script else [py, "-m", "finehub", "--help"]
    contenders = [
        _command([py, "-c", "pass"]),
        _command([py, "-c", "import finehub"]),
        _command(help_args),
        _command([py, "-c", "import torch"]),
    ]
    bare, imp, help_, torch_ = (c.name for c in contenders)
    repeats = 5 if quick else 15
    stats = alternate(contenders, repeats=repeats, warmup=1)
    by = {s.name: s for s in stats}
    figures = [
        Figure("finehub --help", by[help_].median_s, "s", HELP_TARGET_S, "<="),
        Figure("import finehub over bare python", by[imp].median_s - by[bare].median_s, "s"),
        ratio(
            stats, help_, torch_, name="--help speed vs `import torch`", note="how much the lazy imports save"
        ),
    ]
    return BenchResult(
        "startup",
        "Startup time (fresh interpreter per run)",
        stats,
        figures,
        params={"repeats": repeats, "help_command": " ".join(help_args)},
    )
