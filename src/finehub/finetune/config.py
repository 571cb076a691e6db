"""RunConfig: how long and how a fine-tuning run trains, evaluates, saves and reports.

Every field is checked once, here; the Trainer reads the fields and never re-validates them.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from finehub.errors import ConfigError

Precision = Literal["fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]


@dataclass
class RunConfig:
    """Run settings. Intervals count optimizer steps.

    ``checkpoint_dir`` is the run folder: a new Trainer pointed at a folder holding checkpoints
    resumes from the latest one. ``save_ckpt_interval`` defaults to ``eval_interval``.
    ``early_stopping`` is a patience in evaluations without improvement of the main metric
    (None: off). ``precision="bf16"`` autocasts to bfloat16 where the CPU/GPU supports it and falls
    back to fp32 with a warning elsewhere. ``max_steps`` caps the steps of ``num_epochs`` epochs.
    ``cpu_kernels`` trains on a CPU with finehub's faster dropout and attention kernels (same
    maths; see :mod:`finehub.nn.cpu_kernels`) and, in bf16, with bf16 copies of the transformers
    encoder and fp32 master weights instead of autocast alone (:mod:`finehub.finetune.bf16_shadow`);
    false keeps the model's own kernels and autocast.
    """

    num_epochs: int = 3
    batch_size: int = 32
    eval_interval: int = 100
    log_interval: int = 10
    save_ckpt_interval: int | None = None
    checkpoint_dir: str | None = None
    keep_checkpoints: int = 1
    seed: int = 42
    early_stopping: int | None = None
    precision: Precision = "fp32"
    num_threads: int | None = None
    max_steps: int | None = None
    device: Device = "auto"
    eval_batch_size: int | None = None
    progress: bool = True
    tensorboard: bool = True
    plots: bool = True
    cpu_kernels: bool = True

    def __post_init__(self) -> None:
        positive = ("num_epochs", "batch_size", "eval_interval", "log_interval", "keep_checkpoints")
        for name in positive:
            _positive_int(name, getattr(self, name))
        for name in ("save_ckpt_interval", "early_stopping", "num_threads", "max_steps", "eval_batch_size"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError("seed", f"must be an integer, got {self.seed!r}")
        _choice("precision", self.precision, ("fp32", "bf16"))
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("progress", "tensorboard", "plots", "cpu_kernels"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.checkpoint_dir, os.PathLike):
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        if self.checkpoint_dir is None:
            self.checkpoint_dir = time.strftime("runs/run-%Y%m%d-%H%M%S")
        elif not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir.strip():
            raise ConfigError("checkpoint_dir", f"must be a folder path, got {self.checkpoint_dir!r}")
        if self.save_ckpt_interval is None:
            self.save_ckpt_interval = self.eval_interval

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(name, f"must be a positive integer, got {value!r}")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, f"must be one of {list(choices)}, got {value!r}")
