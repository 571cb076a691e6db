"""Callbacks: everything around the training loop that is not the loop.

The Trainer calls six events, each with a read-only :class:`TrainerState` snapshot and the run's
:class:`TrainerControl`; a callback steers the run only by setting control flags:

============== ==================================================================
on_train_begin  before the first step (``state.resumed_from`` says whether resumed)
on_step_end     after every optimizer step (``state.logged``: a new loss/lr/speed record)
on_evaluate     after each dev evaluation (``state.eval_metrics``, ``state.best_*``)
on_save         after a checkpoint is written (``state.checkpoint``)
on_early_stop   when ``control.stop`` ended training before its last step
on_train_end    after the final test evaluation (``state.test_metrics``)
============== ==================================================================

``close()`` runs last, even when training failed, to release files and terminals. Callbacks keep
no state that a resumed run would need: what they decide from (best metric, evaluations since
the best) lives in the state the Trainer checkpoints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finehub._utils.fs import atomic_write_text
from finehub.finetune.report import plot_curves, render_report
from finehub.finetune.state import TrainerState  # re-exported: part of the callback API

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainerControl:
    """Flags a callback sets to steer the run; the Trainer acts on them and clears them."""

    stop: bool = False
    save: bool = False
    evaluate: bool = False


class Callback:
    """Base class; override the events you need (all are no-ops here)."""

    def on_train_begin(self, state: TrainerState, control: TrainerControl) -> None: ...

    def on_step_end(self, state: TrainerState, control: TrainerControl) -> None: ...

    def on_evaluate(self, state: TrainerState, control: TrainerControl) -> None: ...

    def on_save(self, state: TrainerState, control: TrainerControl) -> None: ...

    def on_early_stop(self, state: TrainerState, control: TrainerControl) -> None: ...

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None: ...

    def close(self) -> None:
        """Release resources; called after training, also when it failed."""


def scalars(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries of a metrics dict (confusion matrices and the like left out)."""
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


class EarlyStopping(Callback):
    """Stop after ``patience`` evaluations in a row without a new best main metric."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def on_evaluate(self, state: TrainerState, control: TrainerControl) -> None:
        if state.evals_since_best >= self.patience:
            log.info(
                "Early stop at step %d: no better %s in %d evaluations",
                state.step,
                state.main_metric,
                self.patience,
            )
            control.stop = True


class TimeLimit(Callback):
    """Stop once training (evaluation excluded) has taken ``seconds``; the run still ends with a
    dev evaluation, a checkpoint and the test of the best model."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, state: TrainerState, control: TrainerControl) -> None:
        if state.train_seconds >= self.seconds and state.step < state.total_steps:
            log.info("Time limit of %.0f s reached at step %d", self.seconds, state.step)
            control.stop = True


class MetricsLog(Callback):
    """``metrics.jsonl``: one JSON line per training log, evaluation and final test.

    A resumed run first drops the lines after its checkpoint's step, so the file reads as if the
    run had never stopped."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_FILE

    def on_train_begin(self, state: TrainerState, control: TrainerControl) -> None:
        kept = [r for r in read_metrics(self.path) if r["event"] != "test" and r["step"] <= state.step]
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))

    def on_step_end(self, state: TrainerState, control: TrainerControl) -> None:
        if state.logged:
            self._write(
                {
                    "event": "train",
                    "step": state.step,
                    "epoch": round(state.step / state.steps_per_epoch, 4),
                    "loss": state.loss,
                    "lr": state.lr,
                    "samples_per_s": state.samples_per_s,
                }
            )

    def on_evaluate(self, state: TrainerState, control: TrainerControl) -> None:
        self._write(
            {
                "event": "eval",
                "split": "dev",
                "step": state.step,
                **(state.eval_metrics or {}),
                "best": state.best_step == state.step,
            }
        )

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None:
        if state.test_metrics is not None:
            self._write(
                {
                    "event": "test",
                    "split": "test",
                    "step": state.best_step or state.step,
                    **state.test_metrics,
                }
            )

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl``; a last line cut short by a crash is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class TensorBoard(Callback):
    """TensorBoard event files under ``<run>/tensorboard`` (needs the ``tensorboard`` package)."""

    def __init__(self, run_dir: Path) -> None:
        from finehub._utils.lazy import require

        require("tensorboard", extra="finetune", feature="TensorBoard logging (RunConfig.tensorboard)")
        self.log_dir = run_dir / "tensorboard"
        self.writer: Any = None

    def on_train_begin(self, state: TrainerState, control: TrainerControl) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step hides events a killed run logged after the step this run starts from
        self.writer = SummaryWriter(str(self.log_dir), purge_step=state.step)

    def on_step_end(self, state: TrainerState, control: TrainerControl) -> None:
        if state.logged:
            for key in ("loss", "lr", "samples_per_s"):
                if getattr(state, key) is not None:
                    self.writer.add_scalar(f"train/{key}", getattr(state, key), state.step)

    def on_evaluate(self, state: TrainerState, control: TrainerControl) -> None:
        for key, value in scalars(state.eval_metrics).items():
            self.writer.add_scalar(f"dev/{key}", value, state.step)

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None:
        for key, value in scalars(state.test_metrics).items():
            self.writer.add_scalar(f"test/{key}", value, state.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Curves(Callback):
    """``curves.png``: training loss and the dev main metric against the step (from metrics.jsonl)."""

    def __init__(self, run_dir: Path) -> None:
        from finehub._utils.lazy import require

        require("matplotlib", extra="finetune", feature="Training curves (RunConfig.plots)")
        self.run_dir = run_dir

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None:
        plot_curves(read_metrics(self.run_dir / METRICS_FILE), self.run_dir / "curves.png", state.main_metric)


class Report(Callback):
    """``report.md``: configuration, best dev and test metrics, confusion matrix, timing."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "report.md"

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None:
        atomic_write_text(self.path, render_report(state))


class ProgressBar(Callback):
    """A rich progress bar on stderr (loss, LR, samples/s, ETA) plus one line per evaluation."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.progress: Any = None
        self.task_id: Any = None

    def on_train_begin(self, state: TrainerState, control: TrainerControl) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]fine-tune[/] epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[speed]} samples/s"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.progress.start()
        self.task_id = self.progress.add_task(
            "train",
            total=state.total_steps,
            completed=state.step,
            epoch=state.epoch + 1,
            loss="-",
            lr="-",
            speed="-",
        )
        if state.resumed_from is not None:
            self.console.print(f"Resumed from step {state.resumed_from} ({state.checkpoint})")

    def on_step_end(self, state: TrainerState, control: TrainerControl) -> None:
        fields: dict[str, Any] = {"epoch": state.epoch + 1}
        if state.logged:
            fields.update(loss=f"{state.loss:.4f}", lr=f"{state.lr:.2e}", speed=f"{state.samples_per_s:.1f}")
        self.progress.update(self.task_id, completed=state.step, **fields)

    def on_evaluate(self, state: TrainerState, control: TrainerControl) -> None:
        values = "  ".join(f"{k}={v:.4f}" for k, v in scalars(state.eval_metrics).items())
        mark = "  [green]new best[/]" if state.best_step == state.step else ""
        self.progress.console.print(f"step {state.step:>6}  dev  {values}{mark}", soft_wrap=True)

    def on_early_stop(self, state: TrainerState, control: TrainerControl) -> None:
        self.progress.console.print(f"Stopped early at step {state.step} of {state.total_steps}.")

    def on_train_end(self, state: TrainerState, control: TrainerControl) -> None:
        self.close()
        if state.test_metrics is not None:
            values = "  ".join(f"{k}={v:.4f}" for k, v in scalars(state.test_metrics).items())
            self.console.print(f"test (best model, step {state.best_step}): {values}", soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
