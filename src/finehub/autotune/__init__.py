"""Hyper-parameter search for fine-tuning: PaddleHub's AutoDL Finetuner on Optuna.

``tune(objective_or_script, space, tuner=..., evaluator=...)`` runs a study; a training script
started by it reports its metric with ``finehub.autotune.report(metric)``. Importing this
package is cheap (no Optuna, no torch) so training scripts can use it freely.
"""

from __future__ import annotations

import importlib
from typing import Any

from finehub.autotune.trial import TrialContext, report, report_final_result

_LAZY: dict[str, str] = {
    "tune": "finehub.autotune.runner:tune",
    "TuneResult": "finehub.autotune.results:TuneResult",
    "TrialRecord": "finehub.autotune.results:TrialRecord",
    "SearchSpace": "finehub.autotune.space:SearchSpace",
    "Param": "finehub.autotune.space:Param",
    "make_tuner": "finehub.autotune.tuners:make_tuner",
    "TUNERS": "finehub.autotune.tuners:TUNERS",
}

__all__ = ["TrialContext", "report", "report_final_result", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'finehub.autotune' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
