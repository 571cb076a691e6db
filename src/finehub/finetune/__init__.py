"""Fine-tuning: tasks (head, loss, metrics), strategies (optimizer, schedule, regularisation),
RunConfig, the Trainer and its callbacks, and export to a loadable module folder.

Names are imported on first use so that ``import finehub.finetune`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Task": "finehub.finetune.tasks.base",
    "task_kind": "finehub.finetune.kinds",
    "export_onnx": "finehub.finetune.onnx_export",
    "Strategy": "finehub.finetune.strategies",
    "AdamWeightDecay": "finehub.finetune.strategies",
    "L2SP": "finehub.finetune.strategies",
    "ULMFiT": "finehub.finetune.strategies",
    "DefaultStrategy": "finehub.finetune.strategies",
    "RunConfig": "finehub.finetune.config",
    "Trainer": "finehub.finetune.trainer",
    "FinetuneResult": "finehub.finetune.trainer",
    "Callback": "finehub.finetune.callbacks",
    "TrainerState": "finehub.finetune.callbacks",
    "TrainerControl": "finehub.finetune.callbacks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    else:  # task classes come from the task-kind registry
        from finehub.finetune.kinds import public_classes

        value = public_classes().get(name) if name.endswith("Task") else None
        if value is None:
            raise AttributeError(f"module 'finehub.finetune' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from finehub.finetune.kinds import public_classes

    return sorted([*globals(), *_LAZY, *public_classes()])
