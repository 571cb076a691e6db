"""What one trial runs: a Python callable, or a training script in a subprocess.

A script is started PaddleHub-style::

    python train.py --learning_rate=0.001 --batch_size=12 --saved_params_dir=DIR/trials/7/output \
        [--model_path=PARENT_SAVE_DIR] [--epochs=N] [extra args]

and reports its final metric with ``finehub.autotune.report(metric)`` (alias
``report_final_result``). The runner passes the path of a per-trial result file in
``FINEHUB_AUTOTUNE_REPORT``; ``report`` writes it atomically. Its output goes to
``DIR/trials/<number>/log.txt``. This module imports only the standard library at the top, so
``import finehub.autotune`` stays cheap inside training scripts.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finehub.errors import ConfigError, TrialError

log = logging.getLogger(__name__)

REPORT_ENV = "FINEHUB_AUTOTUNE_REPORT"
TRIAL_ENV = "FINEHUB_AUTOTUNE_TRIAL"

_ACTIVE: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar(
    "finehub_autotune_trial", default=None
)


@dataclass
class TrialContext:
    """Everything a trial needs besides its hyper-parameters.

    ``init_from`` is the parent's save dir (population evaluator, round > 0) or None;
    ``save_dir`` is where the trial saves what the next round or the final result needs
    (the Trainer's ``checkpoint_dir``: its ``best_model/`` becomes ``DIR/best_model``);
    ``epochs`` is ``epochs_per_round`` when the study sets it.
    """

    trial_id: int
    round: int
    slot: int
    params: dict[str, Any]
    trial_dir: Path
    save_dir: Path
    init_from: Path | None = None
    epochs: int | None = None
    reported: float | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.trial_dir / "log.txt"

    @property
    def result_path(self) -> Path:
        return self.trial_dir / "result.json"

    def report(self, metric: Any) -> None:
        """Record the trial's final metric (a callable may also just return it)."""
        self.reported = _as_metric(metric)


def report(metric: Any) -> None:
    """Report the final metric of the running trial.

    Inside a callable objective it goes to the active :class:`TrialContext`; inside a script
    started by autotune, to the result file named by ``FINEHUB_AUTOTUNE_REPORT``. A script run
    by hand (no autotune around it) just logs the value.
    """
    value = _as_metric(metric)
    ctx = _ACTIVE.get()
    if ctx is not None:
        ctx.report(value)
        return
    target = os.environ.get(REPORT_ENV)
    if not target:
        log.info("autotune metric %s (not running under finehub autotune; nothing recorded)", value)
        return
    from finehub._utils.fs import atomic_write_json

    atomic_write_json(target, {"metric": value, "trial": os.environ.get(TRIAL_ENV)})


report_final_result = report  # PaddleHub's name


def _as_metric(metric: Any) -> float:
    try:
        return float(metric.item() if hasattr(metric, "item") else metric)
    except (TypeError, ValueError) as e:
        raise TrialError(os.environ.get(TRIAL_ENV, "?"), f"report() needs a number, got {metric!r}") from e


class CallableTrial:
    """Runs ``objective(params, ctx) -> float`` in the worker process.

    The value is what the objective returns, or, if it returns None, what it last passed to
    ``ctx.report`` / ``finehub.autotune.report``.
    """

    def __init__(self, objective: Callable[[dict[str, Any], TrialContext], Any]):
        if not callable(objective):
            raise ConfigError("objective", f"expected a callable or a script path, got {objective!r}")
        self.objective = objective

    def __str__(self) -> str:
        return getattr(self.objective, "__qualname__", repr(self.objective))

    def run(self, ctx: TrialContext) -> float:
        token = _ACTIVE.set(ctx)
        try:
            out = self.objective(dict(ctx.params), ctx)
        finally:
            _ACTIVE.reset(token)
        if out is not None:
            ctx.report(out)
        if ctx.reported is None:
            raise TrialError(
                ctx.trial_id,
                "the objective returned None and reported nothing; return the metric or call ctx.report(metric)",
            )
        return _finite(ctx, ctx.reported)


class ScriptTrial:
    """Runs a training script in a subprocess; see the module docstring for its command line."""

    def __init__(
        self,
        script: str | Path,
        args: Sequence[str] = (),
        *,
        python: str | None = None,
        timeout: float | None = None,
    ):
        self.script = Path(script).resolve()
        if not self.script.is_file():
            raise ConfigError("script", f"{script} is not a file; pass the path of your training script")
        self.args = list(args)
        self.python = python or sys.executable
        self.timeout = timeout

    def __str__(self) -> str:
        return str(self.script)

    def command(self, ctx: TrialContext) -> list[str]:
        cmd = [self.python, str(self.script)]
        cmd += [f"--{name}={_format(value)}" for name, value in ctx.params.items()]
        cmd.append(f"--saved_params_dir={ctx.save_dir}")
        if ctx.init_from is not None:
            cmd.append(f"--model_path={ctx.init_from}")
        if ctx.epochs is not None:
            cmd.append(f"--epochs={ctx.epochs}")
        return cmd + self.args

    def run(self, ctx: TrialContext) -> float:
        ctx.result_path.unlink(missing_ok=True)
        env = {**os.environ, REPORT_ENV: str(ctx.result_path), TRIAL_ENV: str(ctx.trial_id)}
        cmd = self.command(ctx)
        with open(ctx.log_path, "a", encoding="utf-8") as log_file:
            log_file.write("$ " + " ".join(cmd) + "\n")
            log_file.flush()
            proc = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=die_with_parent,
            )
            try:
                code = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _stop(proc)
                raise TrialError(
                    ctx.trial_id,
                    f"the script ran longer than {self.timeout:g} s and was stopped",
                    log_path=str(ctx.log_path),
                ) from None
            except BaseException:
                _stop(proc)
                raise
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise TrialError(ctx.trial_id, f"the script {how}", log_path=str(ctx.log_path))
        if not ctx.result_path.is_file():
            raise TrialError(
                ctx.trial_id,
                "the script finished without reporting a metric; call finehub.autotune.report(metric) at its end",
                log_path=str(ctx.log_path),
            )
        return _finite(ctx, float(json.loads(ctx.result_path.read_text(encoding="utf-8"))["metric"]))


def _finite(ctx: TrialContext, value: float) -> float:
    if not math.isfinite(value):
        raise TrialError(ctx.trial_id, f"the reported metric is {value}", log_path=str(ctx.log_path))
    return value


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (so kill -9 of a runner leaves no orphans)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
