"""The Trainer: one fine-tuning loop, meant to be read top to bottom.

``finetune_and_eval(dataset)``:

1. setup      device, precision and distribution (a :class:`~finehub.finetune.step.StepRunner`),
              every split tokenised once, the run folder
2. init       the task's model (pretrained encoder + new head) and the strategy's optimizer, LR
              schedule and regulariser; then the latest checkpoint of ``<run>/checkpoints/`` when
              there is one: weights, optimizer, scheduler, RNG and data position
3. loop       length-bucketed batches, one optimizer step each; dev evaluation every
              ``eval_interval`` steps and after the last one (a new best main metric writes
              ``best_model/``); checkpoint every ``save_ckpt_interval`` steps and at the end
4. test       the best model on the test split; callbacks write curves and the report

Everything around the loop (progress, metrics.jsonl, TensorBoard, early stopping, plots, report)
is a callback. How a step runs (autocast, finehub's CPU kernels and the bf16 encoder copy with
fp32 master weights, DDP) is the StepRunner's business (:mod:`finehub.finetune.step`).

Under ``torchrun --nproc-per-node N`` the same loop runs data-parallel (see
:mod:`finehub.finetune.distributed`): ``batch_size`` stays the global batch, each process trains
on its slice of every batch of the same order, and the gradient is that of the whole batch's mean
loss, so steps, schedule and checkpoints are those of one process. Evaluation splits the batches
over the processes and gathers them, giving every process the same metrics. Rank 0 alone writes
the run folder and runs the callbacks; the flags they set reach every process. The step at which
a run stands fixes its epoch and its place in that epoch's batch order, and the checkpoint
restores every RNG, so a killed run that is started again finishes with the same weights and
metrics as one that never stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import CheckpointError, ConfigError
from finehub.finetune.callbacks import (
    Callback,
    Curves,
    EarlyStopping,
    MetricsLog,
    ProgressBar,
    Report,
    TensorBoard,
    TrainerControl,
    scalars,
)
from finehub.finetune.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from finehub.finetune.collate import EncodedSplit, LengthBucketSampler
from finehub.finetune.config import RunConfig
from finehub.finetune.distributed import Dist, from_env, process_group
from finehub.finetune.export import export_folder, install
from finehub.finetune.state import TrainerState
from finehub.finetune.step import StepRunner
from finehub.finetune.strategies import Optimization, Strategy
from finehub.finetune.tasks.base import Task
from finehub.nn.device import pick_device

if TYPE_CHECKING:
    import torch

    from finehub.data.dataset import Dataset, TextExample

log = logging.getLogger(__name__)

BEST_MODEL = "best_model"
REPORT_EXAMPLES = 4  # held-out examples a task may show in report.md (e.g. drawn detections)
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class FinetuneResult:
    """What a run achieved and where its outputs are."""

    main_metric: str
    best_dev_metrics: dict[str, Any]  # dev metrics at the best step ({} without a dev split)
    best_step: int | None
    test_metrics: dict[str, Any] | None  # the best model on the test split (None without one)
    run_dir: Path
    best_model_dir: Path
    checkpoint: Path | None
    steps: int
    total_steps: int
    stopped_early: bool
    resumed_from: int | None
    train_seconds: float
    total_seconds: float
    train_samples_per_s: float
    device: str
    precision: str


class Trainer:
    """Fine-tunes ``task`` with ``strategy`` as ``config`` says; ``callbacks`` add to the defaults
    (metrics.jsonl, TensorBoard, early stopping, progress bar, curves, report, as configured)."""

    def __init__(
        self,
        task: Task,
        strategy: Strategy,
        config: RunConfig | None = None,
        *,
        callbacks: Iterable[Callback] = (),
    ) -> None:
        if not isinstance(task, Task):
            raise ConfigError(
                "task", f"expected a finehub task such as TextClassificationTask, got {type(task).__name__}"
            )
        if not isinstance(strategy, Strategy):
            raise ConfigError(
                "strategy", f"expected a strategy such as AdamWeightDecay, got {type(strategy).__name__}"
            )
        if config is not None and not isinstance(config, RunConfig):
            raise ConfigError("config", f"expected a RunConfig, got {type(config).__name__}")
        self.task, self.strategy, self.config = task, strategy, config or RunConfig()
        self.run_dir = Path(self.config.checkpoint_dir)  # type: ignore[arg-type]
        self.extra_callbacks = list(callbacks)
        self.result: FinetuneResult | None = None
        self._dataset_name = ""
        self._dist = Dist()
        self._runner: StepRunner | None = None  # the last run's device, precision and ranks

    def finetune_and_eval(self, dataset: Dataset | str) -> FinetuneResult:
        """Train, evaluate and test on ``dataset`` (a Dataset, or the name of a registered one);
        data-parallel when started by ``torchrun`` (module docstring)."""
        dataset = _as_dataset(dataset)
        self._dist = from_env()
        device = pick_device(None if self.config.device == "auto" else self.config.device)
        with process_group(self._dist, device) as device:
            return self._finetune_and_eval(dataset, device)

    def _finetune_and_eval(self, dataset: Dataset, device: torch.device) -> FinetuneResult:
        cfg, task, run, dist = self.config, self.task, self.run_dir, self._dist
        started = time.perf_counter()

        # --- setup: precision and distribution, data (tokenised once), run folder -------------
        self._runner = runner = StepRunner(device, cfg.precision, dist)
        self._dataset_name = dataset.name
        task.bind(dataset)
        train = task.encode(dataset.train, split="train")
        dev = task.encode(dataset.dev, split="dev") if "dev" in dataset else None
        test = task.encode(dataset.test, split="test") if "test" in dataset else None
        sampler = LengthBucketSampler(train.lengths, cfg.batch_size, seed=cfg.seed)
        steps_per_epoch = len(sampler)
        total_steps = min(cfg.num_epochs * steps_per_epoch, cfg.max_steps or 1 << 62)
        if dist.is_main:
            run.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(run)

        # --- init: pretrained encoder + new head and the optimizer; or the latest checkpoint --
        model = task.model.to(device).train()
        opt = self.strategy.build(model, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
        identity = {
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "train_size": len(train),
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
        }
        state = self._new_state(dataset, (train, dev, test), identity, runner)
        state, pending = self._resume(state, model, opt, identity)

        # --- the loop ---------------------------------------------------------------------------
        events = _Events(self._callbacks() if dist.is_main else [], dist)
        control = events.control
        with contextlib.ExitStack() as cleanup:
            cleanup.enter_context(_threads(cfg.num_threads))
            cleanup.callback(events.close)
            cleanup.enter_context(
                runner.training(
                    model, opt, cpu_kernels=cfg.cpu_kernels, encoder_runs=task.steps_run_the_encoder
                )
            )
            events.fire("on_train_begin", state)
            losses = _LossLog(pending, device, dist)
            while state.step < total_steps and not state.finished:
                epoch, position = divmod(state.step, steps_per_epoch)
                runner.start_epoch(epoch)
                for indices in sampler.iter_from(epoch, position):
                    t0 = time.perf_counter()
                    loss = runner.step(task, train, indices)
                    state = self._stepped(state, losses, loss, len(indices), time.perf_counter() - t0, opt.lr)
                    control.evaluate = state.step % cfg.eval_interval == 0 or state.step == total_steps
                    control.save = state.step % cfg.save_ckpt_interval == 0  # type: ignore[operator]
                    events.fire("on_step_end", state)
                    control.evaluate = control.evaluate or control.stop  # a run always ends evaluated

                    if control.evaluate and dev is not None:
                        state = self._record_eval(state, runner.evaluate(task, dev, cfg.eval_batch_size))
                        events.fire("on_evaluate", state)
                    if control.stop or state.step == total_steps:
                        state = self._finish(state)
                    if control.save or state.finished:
                        state = replace(state, checkpoint=self._save(state, model, opt, losses, identity))
                        events.fire("on_save", state)
                    if state.stopped_early:
                        events.fire("on_early_stop", state)
                    control.evaluate = control.save = control.stop = False
                    if state.finished:
                        break

            # --- test: the best model on held-out data --------------------------------------------
            dist.barrier()  # rank 0 has written best_model/
            task.load_weights(run / BEST_MODEL)
            if test is not None:
                state = replace(state, test_metrics=runner.evaluate(task, test, cfg.eval_batch_size))
            held_out = dataset.test if test is not None else dataset.dev if dev is not None else []
            if dist.is_main and held_out:
                state = replace(state, report_section=task.report_section(run, held_out[:REPORT_EXAMPLES]))
            events.fire("on_train_end", state)

        self.result = self._result(state, runner, time.perf_counter() - started)
        return self.result

    def evaluate(self, examples: Sequence[TextExample]) -> dict[str, Any]:
        """The task's metrics (and mean loss) of the current weights on ``examples``, in the
        precision of the last run (before any: the config's, on the model's device)."""
        runner = self._runner or StepRunner(next(self.task.model.parameters()).device, self.config.precision)
        split = self.task.encode(examples, split="eval")
        return runner.evaluate(self.task, split, self.config.eval_batch_size, alone=True)

    def export(
        self,
        name: str,
        version: str = "1.0.0",
        output_dir: str | Path | None = None,
        *,
        install_module: bool = True,
    ) -> Path:
        """Write the task's current weights (the best ones after ``finetune_and_eval``) as module
        folder ``<output_dir>/<name>-<version>`` (default output_dir: ``<run>/export``), install it
        so ``finehub.Module(name)`` loads it, and return the installed folder (or the written one).
        After a data-parallel run only rank 0 writes; the other ranks return the folder's path."""
        folder = Path(output_dir or self.run_dir / "export") / f"{name}-{version}"
        if not self._dist.is_main:
            return folder
        export_folder(self.task, folder, name=name, version=version, provenance=self._provenance())
        log.info("Exported %s==%s to %s", name, version, folder)
        return install(folder) if install_module else folder

    # --- helpers -----------------------------------------------------------------------------------

    def _callbacks(self) -> list[Callback]:
        cfg, run = self.config, self.run_dir
        callbacks: list[Callback] = [MetricsLog(run)]
        if cfg.tensorboard:
            callbacks.append(TensorBoard(run))
        if cfg.early_stopping:
            callbacks.append(EarlyStopping(cfg.early_stopping))
        callbacks += self.extra_callbacks
        if cfg.plots:
            callbacks.append(Curves(run))
        callbacks.append(Report(run))
        if cfg.progress:
            callbacks.append(ProgressBar())
        return callbacks

    def _new_state(
        self,
        dataset: Dataset,
        splits: tuple[EncodedSplit | None, ...],
        identity: dict[str, Any],
        runner: StepRunner,
    ) -> TrainerState:
        import torch

        cfg, task, dist = self.config, self.task, self._dist
        return TrainerState(
            run_dir=self.run_dir,
            total_steps=identity["total_steps"],
            steps_per_epoch=identity["steps_per_epoch"],
            main_metric=task.main_metric,
            greater_is_better=task.greater_is_better,
            label_names=tuple(getattr(task, "label_names", ())),
            config=cfg.to_dict(),
            run_info={
                "dataset": dataset.name,
                "examples (train/dev/test)": "/".join(str(len(s)) if s else "-" for s in splits),
                "task": repr(task),
                "strategy": repr(self.strategy),
                "device": str(runner.device),
                "precision": runner.precision,
                "threads": cfg.num_threads or torch.get_num_threads(),
                "steps per epoch": identity["steps_per_epoch"],
                **({"processes": dist.world_size} if dist.enabled else {}),
            },
        )

    def _resume(
        self, state: TrainerState, model: torch.nn.Module, opt: Optimization, identity: dict[str, Any]
    ) -> tuple[TrainerState, tuple[float, int]]:
        """Load the latest checkpoint into ``model`` and ``opt`` and restore its RNG, or seed a
        fresh run; returns the state and the training log pending at the checkpoint."""
        cfg, dist = self.config, self._dist
        ckpt_file = dist.broadcast(latest_checkpoint(self.run_dir / CHECKPOINTS) if dist.is_main else None)
        if ckpt_file is None:
            seed_everything(cfg.seed + dist.rank)  # rank 0 draws as a single process would
            return state, (0.0, 0)
        ckpt = load_checkpoint(ckpt_file)
        _check_same_run(ckpt, ckpt_file, identity)
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimization"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(
                str(ckpt_file),
                f"does not fit this task's model or strategy ({e}). "
                "Use a new checkpoint_dir for a different setup.",
            ) from e
        ranks = ckpt.get("rng_ranks")  # every rank's RNG, when saved by as many processes
        set_rng_state(ranks[dist.rank] if ranks and len(ranks) == dist.world_size else ckpt["rng"])
        saved = {k: v for k, v in ckpt["trainer"].items() if k in TrainerState.__dataclass_fields__}
        log.info("Resuming %s from step %d (%s)", self.run_dir, saved["step"], ckpt_file)
        state = replace(state, **saved, resumed_from=saved["step"], checkpoint=ckpt_file)
        return state, ckpt["trainer"]["pending_log"]

    def _stepped(
        self,
        state: TrainerState,
        losses: _LossLog,
        loss: torch.Tensor,
        samples: int,
        seconds: float,
        lr: float,
    ) -> TrainerState:
        """The state after one more step; every ``log_interval`` steps and at the last, with the
        log's loss, learning rate and speed."""
        losses.add(loss, samples, seconds)
        step = state.step + 1
        logged = step % self.config.log_interval == 0 or step == state.total_steps
        state = replace(
            state,
            step=step,
            epoch=(step - 1) // state.steps_per_epoch,
            samples_seen=state.samples_seen + samples,
            train_seconds=state.train_seconds + seconds,
            logged=logged,
        )
        if not logged:
            return state
        mean_loss, samples_per_s = losses.flush()
        return replace(state, loss=mean_loss, lr=lr, samples_per_s=samples_per_s)

    def _finish(self, state: TrainerState) -> TrainerState:
        """The state of a run ending at this step; a run never evaluated keeps its final weights
        as the best model."""
        state = replace(state, finished=True, stopped_early=state.step < state.total_steps)
        if state.best_step is None:
            self._save_best(state)
            state = replace(state, best_step=state.step)
        return state

    def _save(
        self,
        state: TrainerState,
        model: torch.nn.Module,
        opt: Optimization,
        losses: _LossLog,
        identity: dict[str, Any],
    ) -> Path:
        """Write this step's checkpoint (rank 0; every rank takes part in gathering the RNGs and
        the pending log) and return its path."""
        dist, folder = self._dist, self.run_dir / CHECKPOINTS
        path = checkpoint_path(folder, state.step)
        rngs = dist.gather(rng_state())
        trainer_state = {
            **identity,
            "step": state.step,
            "epoch": state.epoch,
            # where the data stream stands: the next batch is data_position["batch"] of that
            # epoch's order, which LengthBucketSampler derives from (seed, epoch) alone
            "data_position": {
                "epoch": state.step // state.steps_per_epoch,
                "batch": state.step % state.steps_per_epoch,
            },
            "best_metric": state.best_metric,
            "best_step": state.best_step,
            "best_metrics": dict(state.best_metrics or {}),
            "eval_metrics": dict(state.eval_metrics or {}),
            "evals_since_best": state.evals_since_best,
            "finished": state.finished,
            "stopped_early": state.stopped_early,
            "train_seconds": state.train_seconds,
            "samples_seen": state.samples_seen,
            "pending_log": losses.pending(),
        }
        if dist.is_main:
            ckpt = {
                "model": model.state_dict(),
                "optimization": opt.state_dict(),
                "rng": rngs[0],
                **({"rng_ranks": rngs} if dist.enabled else {}),
                "trainer": trainer_state,
                "config": self.config.to_dict(),
            }
            save_checkpoint(path, ckpt)
            prune_checkpoints(folder, self.config.keep_checkpoints)
        return path

    def _result(self, state: TrainerState, runner: StepRunner, total_seconds: float) -> FinetuneResult:
        return FinetuneResult(
            main_metric=self.task.main_metric,
            best_dev_metrics=dict(state.best_metrics or {}),
            best_step=state.best_step,
            test_metrics=dict(state.test_metrics) if state.test_metrics is not None else None,
            run_dir=self.run_dir,
            best_model_dir=self.run_dir / BEST_MODEL,
            checkpoint=state.checkpoint,
            steps=state.step,
            total_steps=state.total_steps,
            stopped_early=state.stopped_early,
            resumed_from=state.resumed_from,
            train_seconds=state.train_seconds,
            total_seconds=total_seconds,
            train_samples_per_s=state.samples_seen / state.train_seconds if state.train_seconds else 0.0,
            device=str(runner.device),
            precision=runner.precision,
        )

    def _record_eval(self, state: TrainerState, metrics: dict[str, Any]) -> TrainerState:
        """The state after a dev evaluation; a new best main metric also writes ``best_model/``.
        A NaN main metric (a diverged run) is never the best."""
        value = metrics[state.main_metric]
        better = not math.isnan(value) and (
            state.best_metric is None
            or (value > state.best_metric if state.greater_is_better else value < state.best_metric)
        )
        state = replace(state, eval_metrics=metrics)
        if not better:
            return replace(state, evals_since_best=state.evals_since_best + 1)
        state = replace(
            state, best_metric=value, best_step=state.step, best_metrics=metrics, evals_since_best=0
        )
        self._save_best(state)
        return state

    def _save_best(self, state: TrainerState) -> None:
        if not self._dist.is_main:
            return
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", self.run_dir.resolve().name).strip("-.") or "model"
        export_folder(self.task, self.run_dir / BEST_MODEL, name=name, provenance=self._provenance(state))

    def _provenance(self, state: TrainerState | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self._dataset_name, "strategy": repr(self.strategy)}
        if state is not None:
            out.update(step=state.step, dev_metrics=scalars(state.eval_metrics))
        elif self.result is not None:
            out.update(
                step=self.result.best_step,
                dev_metrics=scalars(self.result.best_dev_metrics),
                test_metrics=scalars(self.result.test_metrics),
            )
        return out


class _LossLog:
    """Loss, samples and seconds since the last training log. The loss sum stays a tensor on the
    device, so a step needs no host sync; a resumed log's sum lives on rank 0 and every rank adds
    its share of each step."""

    def __init__(self, pending: tuple[float, int], device: torch.device, dist: Dist) -> None:
        import torch

        self._dist = dist
        self.loss = torch.tensor(pending[0] if dist.is_main else 0.0, device=device)
        self.steps, self.samples, self.seconds = pending[1], 0, 0.0

    def add(self, loss: torch.Tensor, samples: int, seconds: float) -> None:
        self.loss += loss
        self.steps, self.samples, self.seconds = (
            self.steps + 1,
            self.samples + samples,
            self.seconds + seconds,
        )

    def flush(self) -> tuple[float, float]:
        """The mean loss over the log's steps (all ranks) and its samples/s; starts a new log."""
        mean, rate = self._dist.sum(self.loss).item() / self.steps, self.samples / max(self.seconds, 1e-9)
        self.loss.zero_()
        self.steps, self.samples, self.seconds = 0, 0, 0.0
        return mean, rate

    def pending(self) -> tuple[float, int]:
        """What a checkpoint keeps of the log, so logs survive a resume (a collective call)."""
        return self._dist.sum(self.loss).item(), self.steps


class _Events:
    """Fires callback events (rank 0's callbacks) and shares the control flags they set with
    every rank."""

    def __init__(self, callbacks: list[Callback], dist: Dist) -> None:
        self.callbacks, self.dist, self.control = callbacks, dist, TrainerControl()

    def fire(self, event: str, state: TrainerState) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(state, self.control)
        if self.dist.enabled and event in ("on_step_end", "on_evaluate"):  # rank 0's decisions
            c = self.control
            c.stop, c.save, c.evaluate = self.dist.broadcast((c.stop, c.save, c.evaluate))

    def close(self) -> None:
        for cb in self.callbacks:
            cb.close()


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``num_threads`` (when given) for this run only."""
    import torch

    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_dataset(dataset: Any) -> Dataset:
    """``dataset`` itself, or the registered dataset of that name."""
    from finehub.data.dataset import Dataset

    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, str):
        from finehub.data import datasets

        return datasets.load(dataset)
    raise ConfigError(
        "dataset",
        f"expected a finehub Dataset or the name of a registered one, got {type(dataset).__name__}; "
        "pass finehub.datasets.load(NAME), from_csv(...), from_folder(...) or a name such as 'bbc-news'",
    )


def _check_same_run(ckpt: dict[str, Any], path: Path, identity: dict[str, Any]) -> None:
    saved = ckpt.get("trainer", {})
    diff = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in identity.items() if saved.get(k) != v]
    if diff:
        raise CheckpointError(
            str(path),
            f"belongs to a run with other settings ({'; '.join(diff)}), so resuming would not continue it. "
            "Use another checkpoint_dir, or delete the folder's checkpoints to start over.",
        )


def _remove_leftovers(run: Path) -> None:
    """Temp files and folders a killed process left behind (their targets are intact)."""
    for pattern in (f"{CHECKPOINTS}/.*.tmp", f".{BEST_MODEL}.*"):
        for path in run.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
