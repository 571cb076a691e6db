"""The Trainer: one fine-tuning loop, meant to be read top to bottom.

``finetune_and_eval(dataset)``:

1. setup      device, precision, threads, run folder; every split tokenised once; on a CPU,
              finehub's dropout and attention kernels and, in bf16, a bf16 copy of the encoder
              trained against fp32 master weights (``RunConfig.cpu_kernels``)
2. init       the task's model (pretrained encoder + new head), or the latest checkpoint of
              ``<run>/checkpoints/`` with its optimizer, scheduler, RNG and data position
3. optimizer  the strategy builds optimizer, LR schedule and regulariser
4. loop       length-bucketed batches; dev evaluation every ``eval_interval`` steps and after the
              last one (a new best main metric writes ``best_model/``); checkpoint every
              ``save_ckpt_interval`` steps and at the end
5. test       the best model on the test split; callbacks write curves and the report

Everything around the loop (progress, metrics.jsonl, TensorBoard, early stopping, plots, report)
is a callback.

Under ``torchrun --nproc-per-node N`` the same loop runs data-parallel (DistributedDataParallel;
see :mod:`finehub.finetune.distributed`): ``batch_size`` stays the global batch, each process
trains on its slice of every batch of the same order, and the gradient is that of the whole
batch's mean loss, so steps, schedule and checkpoints are those of one process. Evaluation splits
the batches over the processes and gathers them, giving every process the same metrics. Rank 0
alone writes the run folder and runs the callbacks; the flags they set reach every process. The step at which a run stands fixes its epoch and its place in that epoch's batch
order, and the checkpoint restores every RNG, so a killed run that is started again finishes with
the same weights and metrics as one that never stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
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
    TrainerState,
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
from finehub.finetune.collate import EncodedSplit, LengthBucketSampler, shard
from finehub.finetune.config import RunConfig
from finehub.finetune.distributed import Dist, from_env, process_group
from finehub.finetune.export import export_folder, install
from finehub.finetune.strategies import Strategy
from finehub.finetune.tasks.base import Task
from finehub.modules._common import bf16_supported, pick_device

if TYPE_CHECKING:
    import torch

    from finehub.data.dataset import Dataset, TextExample

log = logging.getLogger("finehub.finetune")

BEST_MODEL = "best_model"
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

    def finetune_and_eval(self, dataset: Dataset) -> FinetuneResult:
        """Train, evaluate and test; data-parallel when started by ``torchrun`` (module docstring)."""
        self._dist = from_env()
        with process_group(self._dist, _pick_device(self.config.device)) as device:
            return self._finetune_and_eval(dataset, device)

    def _finetune_and_eval(self, dataset: Dataset, device: torch.device) -> FinetuneResult:
        import torch

        cfg, task, run, dist = self.config, self.task, self.run_dir, self._dist
        started = time.perf_counter()

        # --- setup: device, precision, threads, data (tokenised once) -------------------------
        autocast, precision = _autocast(device, cfg.precision)
        task.bind(dataset)
        self._dataset_name = dataset.name
        train = task.encode(dataset.train, split="train")
        dev = task.encode(dataset.dev, split="dev") if "dev" in dataset else None
        test = task.encode(dataset.test, split="test") if "test" in dataset else None
        sampler = LengthBucketSampler(train.lengths, cfg.batch_size, seed=cfg.seed)
        steps_per_epoch = len(sampler)
        total_steps = min(cfg.num_epochs * steps_per_epoch, cfg.max_steps or 1 << 62)
        eval_batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
        if dist.is_main:
            run.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(run)

        # --- init: pretrained encoder + new head, then optimizer; or resume -------------------
        model = task.model.to(device).train()
        opt = self.strategy.build(model, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
        state = TrainerState(
            run_dir=run,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
            main_metric=task.main_metric,
            greater_is_better=task.greater_is_better,
            label_names=tuple(getattr(task, "label_names", ())),
            config=cfg.to_dict(),
            run_info={
                "dataset": dataset.name,
                "examples (train/dev/test)": "/".join(str(len(s)) if s else "-" for s in (train, dev, test)),
                "task": repr(task),
                "strategy": repr(self.strategy),
                "device": str(device),
                "precision": precision,
                "threads": cfg.num_threads or torch.get_num_threads(),
                "steps per epoch": steps_per_epoch,
                **({"processes": dist.world_size} if dist.enabled else {}),
            },
        )
        identity = {
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "train_size": len(train),
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
        }
        pending = (0.0, 0)  # loss sum and steps since the last training log, so logs survive a resume
        ckpt_file = dist.broadcast(latest_checkpoint(run / CHECKPOINTS) if dist.is_main else None)
        if ckpt_file is None:
            seed_everything(cfg.seed + dist.rank)  # rank 0 draws as a single process would
        else:
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
            state = replace(state, **saved, resumed_from=saved["step"], checkpoint=ckpt_file)
            pending = ckpt["trainer"]["pending_log"]
            log.info("Resuming %s from step %d (%s)", run, state.step, ckpt_file)

        control = TrainerControl()
        callbacks = self._callbacks() if dist.is_main else []

        def fire(event: str) -> None:
            for cb in callbacks:
                getattr(cb, event)(state, control)
            if dist.enabled and event in ("on_step_end", "on_evaluate"):  # rank 0's decisions
                control.stop, control.save, control.evaluate = dist.broadcast(
                    (control.stop, control.save, control.evaluate)
                )

        def save(finished: bool) -> Path:
            path = checkpoint_path(run / CHECKPOINTS, state.step)
            rngs = dist.gather(rng_state())
            pending_loss = dist.sum(loss_sum).item()
            trainer_state = {
                **identity,
                "step": state.step,
                "epoch": state.epoch,
                # where the data stream stands: the next batch is data_position["batch"] of that
                # epoch's order, which LengthBucketSampler derives from (seed, epoch) alone
                "data_position": {
                    "epoch": state.step // steps_per_epoch,
                    "batch": state.step % steps_per_epoch,
                },
                "best_metric": state.best_metric,
                "best_step": state.best_step,
                "best_metrics": dict(state.best_metrics or {}),
                "eval_metrics": dict(state.eval_metrics or {}),
                "evals_since_best": state.evals_since_best,
                "finished": finished,
                "stopped_early": state.stopped_early,
                "train_seconds": state.train_seconds,
                "samples_seen": state.samples_seen,
                "pending_log": (pending_loss, log_steps),
            }
            if dist.is_main:
                save_checkpoint(
                    path,
                    {
                        "model": model.state_dict(),
                        "optimization": opt.state_dict(),
                        "rng": rngs[0],
                        **({"rng_ranks": rngs} if dist.enabled else {}),
                        "trainer": trainer_state,
                        "config": cfg.to_dict(),
                    },
                )
                prune_checkpoints(run / CHECKPOINTS, cfg.keep_checkpoints)
            return path

        # --- the loop ---------------------------------------------------------------------------
        threads_before = torch.get_num_threads()
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)  # for this run only
        shadow, train_model = None, model  # train_model: what the forward and backward passes run
        kernels = contextlib.ExitStack()
        if device.type == "cpu" and cfg.cpu_kernels:
            from finehub.finetune.bf16_shadow import BF16Shadow
            from finehub.nn.cpu_kernels import cpu_training_kernels

            if precision == "bf16" and BF16Shadow.applies_to(model):
                shadow = BF16Shadow(model)  # built after a resume's load, so it copies those weights
                train_model = shadow.net
            kernels.enter_context(cpu_training_kernels(train_model))
        try:
            fire("on_train_begin")
            # a resumed log's loss sum lives on rank 0; each rank adds its share of every step
            loss_sum = torch.tensor(pending[0] if dist.is_main else 0.0, device=device)
            log_steps, log_samples, log_seconds = pending[1], 0, 0.0
            net, trainable = train_model, None  # net: as trained (DDP-wrapped on several ranks)
            while state.step < total_steps and not state.finished:
                epoch, position = divmod(state.step, steps_per_epoch)
                opt.on_epoch_start(epoch)
                if shadow is not None:
                    shadow.sync_trainable()
                if dist.enabled and trainable != (
                    now := tuple(p.requires_grad for p in train_model.parameters())
                ):
                    net = train_model  # drop the old wrapper: DDP syncs only what trains when it is made
                    net, trainable = _data_parallel(train_model, device), now
                for indices in sampler.iter_from(epoch, position):
                    t0 = time.perf_counter()
                    if dist.enabled:
                        local = shard(indices, dist.rank, dist.world_size)
                        share = len(local) / len(indices)
                        local = (
                            local if len(local) else indices[:1]
                        )  # a rank with no examples joins at weight 0
                    else:
                        local, share = indices, 1.0
                    batch = {
                        k: v.to(device, non_blocking=True) for k, v in task.collate(train, local).items()
                    }
                    labels = batch.pop("labels")
                    with autocast():
                        loss = task.loss(net(**batch), labels)
                    loss = _backward(loss, share, opt.penalty, dist.world_size)
                    if shadow is not None:
                        shadow.grads_to_masters()
                    if opt.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), opt.max_grad_norm, foreach=True)
                    opt.optimizer.step()
                    if shadow is not None:
                        shadow.weights_from_masters()
                    opt.scheduler.step()
                    opt.optimizer.zero_grad(set_to_none=True)
                    loss_sum += loss.detach()  # no host sync here; .item() only at log steps
                    step, seconds = state.step + 1, time.perf_counter() - t0
                    log_steps, log_samples, log_seconds = (
                        log_steps + 1,
                        log_samples + len(indices),
                        log_seconds + seconds,
                    )
                    logged = step % cfg.log_interval == 0 or step == total_steps
                    state = replace(
                        state,
                        step=step,
                        epoch=(step - 1) // steps_per_epoch,
                        samples_seen=state.samples_seen + len(indices),
                        train_seconds=state.train_seconds + seconds,
                        logged=logged,
                    )
                    if logged:
                        state = replace(
                            state,
                            loss=dist.sum(loss_sum).item() / log_steps,
                            lr=opt.lr,
                            samples_per_s=log_samples / max(log_seconds, 1e-9),
                        )
                        loss_sum.zero_()
                        log_steps, log_samples, log_seconds = 0, 0, 0.0
                    control.evaluate = step % cfg.eval_interval == 0 or step == total_steps
                    control.save = step % cfg.save_ckpt_interval == 0  # type: ignore[operator]
                    fire("on_step_end")
                    control.evaluate = control.evaluate or control.stop  # a run always ends evaluated

                    if control.evaluate and dev is not None:
                        metrics = evaluate(
                            task, dev, batch_size=eval_batch_size, device=device, autocast=autocast, dist=dist
                        )
                        state = self._record_eval(state, metrics)
                        fire("on_evaluate")
                    if control.stop or step == total_steps:
                        state = replace(state, finished=True, stopped_early=step < total_steps)
                        if state.best_step is None:  # never evaluated: the final weights are the best model
                            self._save_best(state)
                            state = replace(state, best_step=step)
                    if control.save or state.finished:
                        state = replace(state, checkpoint=save(state.finished))
                        fire("on_save")
                    if state.stopped_early:
                        fire("on_early_stop")
                    control.evaluate = control.save = control.stop = False
                    if state.finished:
                        break

            # --- test: the best model on held-out data ----------------------------------------
            dist.barrier()  # rank 0 has written best_model/
            task.load_weights(run / BEST_MODEL)
            if test is not None:
                metrics = evaluate(
                    task, test, batch_size=eval_batch_size, device=device, autocast=autocast, dist=dist
                )
                state = replace(state, test_metrics=metrics)
            fire("on_train_end")
        finally:
            kernels.close()
            for cb in callbacks:
                cb.close()
            torch.set_num_threads(threads_before)

        self.result = FinetuneResult(
            main_metric=task.main_metric,
            best_dev_metrics=dict(state.best_metrics or {}),
            best_step=state.best_step,
            test_metrics=dict(state.test_metrics) if state.test_metrics is not None else None,
            run_dir=run,
            best_model_dir=run / BEST_MODEL,
            checkpoint=state.checkpoint,
            steps=state.step,
            total_steps=total_steps,
            stopped_early=state.stopped_early,
            resumed_from=state.resumed_from,
            train_seconds=state.train_seconds,
            total_seconds=time.perf_counter() - started,
            train_samples_per_s=state.samples_seen / state.train_seconds if state.train_seconds else 0.0,
            device=str(device),
            precision=precision,
        )
        return self.result

    def evaluate(self, examples: Sequence[TextExample]) -> dict[str, Any]:
        """The task's metrics (and mean loss) of the current weights on ``examples``."""
        device = next(self.task.model.parameters()).device
        autocast, _ = _autocast(device, self.config.precision)
        split = self.task.encode(examples, split="eval")
        batch_size = self.config.eval_batch_size or 2 * self.config.batch_size
        return evaluate(self.task, split, batch_size=batch_size, device=device, autocast=autocast)

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


def evaluate(
    task: Task,
    split: EncodedSplit,
    *,
    batch_size: int,
    device: torch.device,
    autocast: Callable[[], Any],
    dist: Dist | None = None,
) -> dict[str, Any]:
    """Mean loss and the task's metrics over ``split``; the model's train/eval mode is restored.

    With several ranks each runs every ``world_size``-th batch and all gather the results in
    batch order, so every rank gets the metrics one process computes, bit for bit."""
    import numpy as np
    import torch

    dist = dist or Dist()
    model = task.model
    was_training = model.training
    model.eval()
    batches = LengthBucketSampler(split.lengths, batch_size, shuffle=False).epoch_batches(0)
    results = []  # (outputs, loss * batch size) of each batch this rank runs
    try:
        with torch.inference_mode():
            for indices in batches[dist.rank :: dist.world_size]:
                batch = {k: v.to(device, non_blocking=True) for k, v in task.collate(split, indices).items()}
                labels = batch.pop("labels")
                with autocast():
                    out = model(**batch).float()
                results.append((out.cpu(), task.loss(out, labels) * len(indices)))
    finally:
        model.train(was_training)
    if dist.enabled:
        ranks = dist.gather([(out, loss.cpu()) for out, loss in results])
        results = [ranks[i % dist.world_size][i // dist.world_size] for i in range(len(batches))]
    loss_sum = torch.zeros((), device=results[0][1].device)
    for _, loss in results:
        loss_sum += loss
    restore = np.argsort(np.concatenate(batches))
    all_outputs = torch.cat([out for out, _ in results])[torch.from_numpy(restore)]
    return {"loss": loss_sum.item() / len(split), **task.compute_metrics(all_outputs, split.labels)}


def _backward(
    loss: torch.Tensor, share: float, penalty: Callable[[], torch.Tensor] | None, world_size: int
) -> torch.Tensor:
    """Backpropagate one step's loss and return it (regulariser included) for logging.

    On ``world_size`` ranks ``loss`` is the mean over this rank's ``share`` of the batch: scaled
    by ``share * world_size``, DDP's gradient average becomes the gradient of the whole batch's
    mean, and the logged values of all ranks sum to the batch's loss. The regulariser is the same
    on every rank, so its gradient is added after DDP's synchronisation, unscaled."""
    if world_size == 1:
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        return loss
    loss = loss * share
    (loss * world_size).backward()
    if penalty is not None:
        reg = penalty()
        reg.backward()
        loss = loss + reg.detach() / world_size
    return loss


def _data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped for gradient synchronisation; parameters a forward pass leaves unused
    (a pooler the head ignores, frozen layers) are allowed."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def _pick_device(device: str) -> torch.device:
    return pick_device(None if device == "auto" else device)


def _autocast(device: torch.device, precision: str) -> tuple[Callable[[], Any], str]:
    """A context factory for the forward pass, and the precision it really gives."""
    import torch

    if precision == "bf16":
        if bf16_supported(device):
            return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
        log.warning("This %s has no native bfloat16 support; training in fp32 instead", device.type.upper())
    return contextlib.nullcontext, "fp32"


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
