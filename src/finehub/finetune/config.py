"""RunConfig: how long and how a fine-tuning run trains, evaluates, saves and reports.

Every field is checked once, here; the Trainer reads the fields and never re-validates them.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from finehub.errors import ConfigError
from finehub.finetune.validation import check_bool, check_choice, check_number

Precision = Literal["fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
MAX_SEED = 2**31 - 1  # numpy seeds must stay below 2**32 with a rank added


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
    false keeps the model's own kernels and autocast. ``num_threads`` (None: torch's default) is
    at most four per CPU of this machine; ``eval_batch_size`` defaults to twice ``batch_size``.
    ``seed`` is from 0 to 2³¹-1.

    PaddleHub's spellings are accepted: ``num_epoch`` for ``num_epochs``, and ``strategy``, kept
    (outside the fields) for a task's own ``finetune_and_eval()``; ``Trainer`` takes its strategy
    as an argument instead. Neither is in the signature, so YAML files keep finehub's names.
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
    strategy = None  # PaddleHub's RunConfig(strategy=...); not a field (see _paddlehub_spellings)

    def __post_init__(self) -> None:
        for name in ("num_epochs", "batch_size", "eval_interval", "log_interval", "keep_checkpoints"):
            check_number(name, getattr(self, name), integer=True, ge=1)
        for name, unset in (
            ("save_ckpt_interval", "eval_interval"),
            ("early_stopping", "off"),
            ("max_steps", "all epochs"),
            ("eval_batch_size", "twice batch_size"),
        ):
            check_number(name, getattr(self, name), integer=True, ge=1, none=unset)
        check_number(
            "num_threads", self.num_threads, integer=True, ge=1, le=max_threads(), none="torch's default"
        )
        check_number("seed", self.seed, integer=True, ge=0, le=MAX_SEED)
        check_choice("precision", self.precision, ("fp32", "bf16"))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("progress", "tensorboard", "plots", "cpu_kernels"):
            check_bool(name, getattr(self, name))
        if isinstance(self.checkpoint_dir, os.PathLike):
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        if self.checkpoint_dir is None:
            self.checkpoint_dir = time.strftime("runs/run-%Y%m%d-%H%M%S")
        elif not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir.strip():
            raise ConfigError("checkpoint_dir", f"must be a folder path, got {self.checkpoint_dir!r}")
        if self.save_ckpt_interval is None:
            self.save_ckpt_interval = self.eval_interval
        if self.eval_batch_size is None:
            self.eval_batch_size = 2 * self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _paddlehub_spellings(init: Any) -> Any:
    """The dataclass ``__init__`` also taking PaddleHub's ``num_epoch`` and ``strategy``; its
    signature (what YAML checks keys against) is kept."""

    @functools.wraps(init)
    def __init__(
        self: RunConfig, *args: Any, num_epoch: Any = None, strategy: Any = None, **kwargs: Any
    ) -> None:
        if num_epoch is not None:
            if kwargs.get("num_epochs", num_epoch) != num_epoch:
                raise ConfigError(
                    "num_epoch",
                    f"{num_epoch} conflicts with num_epochs={kwargs['num_epochs']}; give one of them",
                )
            kwargs["num_epochs"] = num_epoch
        init(self, *args, **kwargs)
        self.strategy = strategy

    return __init__


RunConfig.__init__ = _paddlehub_spellings(RunConfig.__init__)  # type: ignore[method-assign]


def max_threads() -> int:
    """The most ``num_threads`` a run may ask for: four per CPU; more only thrashes."""
    return 4 * (os.cpu_count() or 1)
