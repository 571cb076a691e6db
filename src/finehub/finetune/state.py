"""The read-only snapshot of a run that the Trainer hands to callbacks and the report renders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainerState:
    """What callbacks see of a run; a fresh snapshot per event, so changing it changes nothing."""

    run_dir: Path
    step: int = 0
    total_steps: int = 0
    steps_per_epoch: int = 1
    epoch: int = 0  # epoch of the last step taken (0-based)
    main_metric: str = "accuracy"
    greater_is_better: bool = True
    # training log (updated every log_interval steps)
    logged: bool = False
    loss: float | None = None
    lr: float | None = None
    samples_per_s: float | None = None
    # evaluation
    eval_metrics: Mapping[str, Any] | None = None
    best_metric: float | None = None
    best_step: int | None = None
    best_metrics: Mapping[str, Any] | None = None
    evals_since_best: int = 0
    test_metrics: Mapping[str, Any] | None = None
    report_section: str | None = None  # the task's own markdown for report.md (Task.report_section)
    # bookkeeping
    checkpoint: Path | None = None
    resumed_from: int | None = None
    finished: bool = False
    stopped_early: bool = False
    train_seconds: float = 0.0
    samples_seen: int = 0
    label_names: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    run_info: Mapping[str, Any] = field(default_factory=dict)
