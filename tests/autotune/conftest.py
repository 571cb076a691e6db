"""A PaddleHub-style training script (pure Python, fast) and helpers to run autotune on it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    '''
    """Toy trainee: the metric peaks at learning_rate=10**-2.5, batch_size=16."""
    import argparse
    import json
    import math
    import os
    import sys
    import time
    from pathlib import Path

    import finehub.autotune

    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float, required=True)
    parser.add_argument("--batch_size", type=int, required=True)
    parser.add_argument("--saved_params_dir", required=True)
    parser.add_argument("--model_path", default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--events", default=None)
    parser.add_argument("--crash_at", type=int, default=None)
    parser.add_argument("--silent_at", type=int, default=None)
    args = parser.parse_args()
    trial = os.environ.get("FINEHUB_AUTOTUNE_TRIAL")


    def event(kind):
        if args.events:
            with open(args.events, "a") as fh:
                fh.write(f"{kind} {trial} {args.learning_rate!r} {args.batch_size} {os.getpid()}\\n")


    event("start")
    time.sleep(args.sleep)
    if args.batch_size == args.crash_at:
        raise ValueError("simulated crash")
    if args.batch_size == args.silent_at:
        sys.exit(0)
    lineage = []
    if args.model_path:
        lineage = json.loads((Path(args.model_path) / "state.json").read_text())["lineage"]
    state = {"lineage": lineage + [int(trial)], "epochs": args.epochs}
    Path(args.saved_params_dir, "state.json").write_text(json.dumps(state))
    event("end")
    finehub.autotune.report(-((math.log10(args.learning_rate) + 2.5) ** 2) - ((args.batch_size - 16) / 8) ** 2)
    '''
)

HPARAM = textwrap.dedent(
    """
    param_list:
    - name : learning_rate
      init_value : 0.001
      type : float
      lower_than : 0.05
      greater_than : 0.000005
      log : true
    - name : batch_size
      init_value : 12
      type : int
      lower_than : 20
      greater_than : 10
    """
)


@pytest.fixture
def trainee(tmp_path: Path) -> tuple[Path, Path]:
    """(train.py, hparam.yaml) in tmp_path."""
    script, hparam = tmp_path / "train.py", tmp_path / "hparam.yaml"
    script.write_text(SCRIPT)
    hparam.write_text(HPARAM)
    return script, hparam


CLI_MAIN = "import sys, typer\nfrom finehub.cli.autotune import register\napp = typer.Typer()\napp.callback()(lambda: None)\nregister(app)\napp()\n"


def cli_command(*args: str) -> list[str]:
    """Command line running `finehub autotune ARGS` through register() in a fresh interpreter."""
    return [sys.executable, "-c", CLI_MAIN, "autotune", *args]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )
    if proc.returncode != 0:
        raise AssertionError(f"autotune failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_study(output_dir: Path, name: str = "autotune"):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(output_dir / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage)
