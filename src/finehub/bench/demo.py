"""The demo as a user runs it: `make demo`'s wall time and test accuracy on this machine.

One run of ``python -m finehub.demo`` with its defaults (a head on cached multilingual-e5-small
features, as many training reviews as its 5.5-minute budget encodes here) in a scratch run folder
and a scratch FINEHUB_HOME. The scratch home shares the user's converted weights, so the figure is
the demo's own work, not a first conversion, and the module it installs goes with the scratch
home. The targets hold on every CPU kind: at most 10 minutes, at least 84 % test accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from finehub.bench.harness import BenchResult, Contender, Figure, Work, alternate

WALL_TARGET_S = 600.0
ACCURACY_TARGET = 84.0


def outcome(run_dir: Path) -> tuple[float, int]:
    """The test accuracy (%) and the number of training examples of a finished demo run."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    tests = [r for r in records if r.get("event") == "test"]
    if not tests:
        raise RuntimeError(f"the demo run in {run_dir} ended without a test evaluation")
    report = json.loads((run_dir / "demo-train-size.json").read_text())
    return 100 * float(tests[-1]["accuracy"]), int(report["train_size"])


def _scratch_home(root: Path) -> dict[str, str]:
    """The environment of a demo run whose FINEHUB_HOME is ``root``, sharing the converted weights."""
    from finehub._utils import paths

    converted = paths.converted_dir()
    converted.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    home.mkdir()
    (home / converted.name).symlink_to(converted, target_is_directory=True)
    return {**os.environ, "FINEHUB_HOME": str(home)}


def run(*, quick: bool, threads: int) -> BenchResult:
    from finehub.hub.loader import Module

    Module("multilingual-e5-small")  # a first conversion of its weights happens here, untimed
    found: dict[str, float] = {}

    def go() -> Work:
        with tempfile.TemporaryDirectory(prefix="finehub-bench-demo-") as tmp:
            run_dir = Path(tmp) / "run"
            command = [sys.executable, "-m", "finehub.demo", "--run-dir", str(run_dir)]
            command += ["--threads", str(threads)]
            subprocess.run(command, env=_scratch_home(Path(tmp)), check=True, stdout=subprocess.DEVNULL)
            found["accuracy"], found["train_size"] = outcome(run_dir)
        return Work({"reviews": found["train_size"]})

    stats = alternate([Contender("make demo", go, "python -m finehub.demo, defaults")], repeats=1, warmup=0)
    return BenchResult(
        "demo",
        "`make demo`: wall time and test accuracy (sentiment-zh on chinese-reviews)",
        stats,
        [
            Figure("demo wall time", stats[0].median_s, "s", WALL_TARGET_S, "<="),
            Figure("demo test accuracy", found["accuracy"], "%", ACCURACY_TARGET, ">="),
            Figure("training reviews its budget covered", found["train_size"], "reviews"),
        ],
        params={"threads": threads},
        notes=["one run: the demo sizes its training set to this machine's measured speed"],
    )
