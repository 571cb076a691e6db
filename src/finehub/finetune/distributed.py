"""Data-parallel training under ``torchrun``: which process this is, and the few collectives the
Trainer needs.

``torchrun --nproc-per-node N`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; with them the
Trainer joins a process group (``nccl`` on GPUs, ``gloo`` on the CPU), and without them it runs
as one process with no collective calls at all. Every process sees the same global batches and
takes its slice of each (:func:`finehub.finetune.collate.shard`) and trains a
:func:`data_parallel` wrapper of the model; rank 0 alone writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Dist:
    """This process's place in the run; ``world_size == 1`` means no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as td

            td.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as td

        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        import torch.distributed as td

        out: list[Any] = [None] * self.world_size
        td.all_gather_object(out, obj)
        return out

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (a new tensor; the argument is left as it is)."""
        if not self.enabled:
            return tensor
        import torch.distributed as td

        out = tensor.clone()
        td.all_reduce(out, op=td.ReduceOp.SUM)
        return out


def from_env() -> Dist:
    """The ranks ``torchrun`` set, or a single process when it set none."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    values = {n: os.environ.get(n) for n in names}
    if values["WORLD_SIZE"] is None:
        return Dist()
    try:
        rank, world, local = (int(values[n] or 0) for n in names)
    except ValueError as e:
        raise ConfigError(
            "WORLD_SIZE", f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({e}); launch with torchrun"
        ) from e
    if world < 1 or not 0 <= rank < world:
        raise ConfigError("RANK", f"rank {rank} of world size {world} is impossible; launch with torchrun")
    return Dist(rank, world, local)


@contextmanager
def process_group(dist: Dist, device: torch.device) -> Iterator[torch.device]:
    """Join the process group for ``device`` (``nccl`` for CUDA, else ``gloo``) and yield the
    device this rank trains on (``cuda:LOCAL_RANK`` on GPUs). A group that already exists is
    used as it is and left open; one made here is closed on exit."""
    if not dist.enabled:
        yield device
        return
    import torch
    import torch.distributed as td

    if device.type == "cuda":
        if dist.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                "device",
                f"local rank {dist.local_rank} has no GPU of its own ({torch.cuda.device_count()} visible); "
                "start at most one process per GPU (torchrun --nproc-per-node)",
            )
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    created = not td.is_initialized()
    if created:
        td.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=_device_id(device))
    try:
        yield device
    finally:
        if created:
            td.destroy_process_group()


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped for gradient synchronisation; parameters a forward pass leaves unused
    (a pooler the head ignores, frozen layers) are allowed."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def _device_id(device: torch.device) -> torch.device | None:
    return device if device.type == "cuda" else None
