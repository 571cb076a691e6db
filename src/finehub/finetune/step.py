"""How this process runs the model: precision, CPU kernels, the bf16 encoder copy and data
parallelism, behind one object, so the Trainer's loop only says *what* happens each step.

Lifecycle, as the Trainer drives it::

    runner = StepRunner(device, config.precision, dist)   # setup: the precision really given
    with runner.training(model, opt, cpu_kernels=...):     # after init or resume
        runner.start_epoch(epoch)                          # before an epoch's first step
        loss = runner.step(task, train, indices)           # one optimizer step
        metrics = runner.evaluate(task, dev, batch_size)   # any time, also outside ``training``

A step on ``world_size`` ranks trains on this rank's slice of the global batch, scaled so that
DDP's gradient average is the gradient of the whole batch's mean loss (:func:`_backward`); an
evaluation splits the batches over the ranks and gathers them, so every rank gets the metrics one
process computes, bit for bit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from finehub.finetune.collate import EncodedSplit, LengthBucketSampler, shard
from finehub.finetune.config import Precision
from finehub.finetune.distributed import Dist, data_parallel
from finehub.nn.device import bf16_supported

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.finetune.bf16_shadow import BF16Shadow
    from finehub.finetune.strategies import Optimization
    from finehub.finetune.tasks.base import Task

log = logging.getLogger(__name__)


class StepRunner:
    """Precision and distribution of one run on ``device`` (see the module docstring).

    ``precision`` is what the run really gets: "bf16" falls back to "fp32", with a warning, where
    the device has no native bfloat16."""

    def __init__(self, device: torch.device, precision: Precision, dist: Dist | None = None) -> None:
        self.device, self.dist = device, dist or Dist()
        self.autocast, self.precision = _autocast(device, precision)
        # set by training(): the fp32 model the optimizer updates, and what forward/backward run
        self._model: torch.nn.Module | None = None
        self._opt: Optimization | None = None
        self._shadow: BF16Shadow | None = None
        self._train_model: torch.nn.Module | None = None  # the model, or its bf16 copy
        self._net: torch.nn.Module | None = None  # _train_model, DDP-wrapped on several ranks
        self._trainable: tuple[bool, ...] | None = None  # requires_grad flags _net was wrapped with

    @contextlib.contextmanager
    def training(
        self, model: torch.nn.Module, opt: Optimization, *, cpu_kernels: bool, encoder_runs: bool = True
    ) -> Iterator[None]:
        """Train ``model`` with ``opt`` inside. On a CPU with ``cpu_kernels``: finehub's kernels
        and, in bf16 where the steps run the encoder (``encoder_runs``), a bf16 copy of it, made
        here so that it copies a resumed run's weights (:mod:`finehub.finetune.bf16_shadow`)."""
        self._model, self._opt, self._train_model = model, opt, model
        try:
            with contextlib.ExitStack() as kernels:
                if self.device.type == "cpu" and cpu_kernels:
                    from finehub.finetune.bf16_shadow import BF16Shadow
                    from finehub.nn.cpu_kernels import cpu_training_kernels

                    if self.precision == "bf16" and encoder_runs and BF16Shadow.applies_to(model):
                        self._shadow = BF16Shadow(model)
                        self._train_model = self._shadow.net
                    kernels.enter_context(cpu_training_kernels(self._train_model))
                self._net = self._train_model
                yield
        finally:
            self._model = self._opt = self._shadow = self._train_model = self._net = None
            self._trainable = None

    def start_epoch(self, epoch: int) -> None:
        """The strategy's epoch hook (gradual unfreezing), mirrored on the bf16 copy; on several
        ranks a new DDP wrapper when what trains changed, since DDP syncs only what trained when
        it was made."""
        assert self._opt is not None and self._train_model is not None, "call inside training()"
        self._opt.on_epoch_start(epoch)
        if self._shadow is not None:
            self._shadow.sync_trainable()
        if self.dist.enabled:
            now = tuple(p.requires_grad for p in self._train_model.parameters())
            if now != self._trainable:
                self._net = self._train_model  # drop the old wrapper before making the new one
                self._net, self._trainable = data_parallel(self._train_model, self.device), now

    def step(self, task: Task, split: EncodedSplit, indices: np.ndarray) -> torch.Tensor:
        """One optimizer step on batch ``indices`` of ``split``: this rank's loss (regulariser
        included), detached and on the device, so logging needs no host sync per step."""
        import torch

        assert self._opt is not None and self._model is not None and self._net is not None
        opt, dist = self._opt, self.dist
        local, share = indices, 1.0
        if dist.enabled:
            local = shard(indices, dist.rank, dist.world_size)
            share = len(local) / len(indices)
            local = local if len(local) else indices[:1]  # a rank with no examples joins at weight 0
        batch = {k: v.to(self.device, non_blocking=True) for k, v in task.collate(split, local).items()}
        labels = batch.pop("labels")
        with self.autocast():
            loss = task.loss(self._net(**batch), labels)
        loss = _backward(loss, share, opt.penalty, dist.world_size)
        if self._shadow is not None:
            self._shadow.grads_to_masters()
        if opt.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._model.parameters(), opt.max_grad_norm, foreach=True)
        opt.optimizer.step()
        if self._shadow is not None:
            self._shadow.weights_from_masters()
        opt.scheduler.step()
        opt.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def evaluate(
        self, task: Task, split: EncodedSplit, batch_size: int, *, alone: bool = False
    ) -> dict[str, Any]:
        """Mean loss and the task's metrics over ``split``; the model's train/eval mode is kept.
        The ranks share the batches unless ``alone`` (this process runs them all, no collectives)."""
        import numpy as np
        import torch

        dist = Dist() if alone else self.dist
        model = task.model
        was_training = model.training
        model.eval()
        batches = LengthBucketSampler(split.lengths, batch_size, shuffle=False).epoch_batches(0)
        results = []  # (outputs, loss * batch size) of each batch this rank runs
        try:
            with torch.inference_mode():
                for indices in batches[dist.rank :: dist.world_size]:
                    batch = {
                        k: v.to(self.device, non_blocking=True)
                        for k, v in task.collate(split, indices).items()
                    }
                    labels = batch.pop("labels")
                    with self.autocast():
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


def _autocast(device: torch.device, precision: Precision) -> tuple[Callable[[], Any], Precision]:
    """A context factory for forward passes, and the precision it really gives."""
    import torch

    if precision == "bf16":
        if bf16_supported(device):
            return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
        log.warning("This %s has no native bfloat16 support; training in fp32 instead", device.type.upper())
    return contextlib.nullcontext, "fp32"


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
