"""Fine-tuning: tasks (head, loss, metrics), strategies (optimizer, schedule, regularisation),
RunConfig, the Trainer and its callbacks, and export to a loadable module folder.

Names are imported on first use so that ``import finehub.finetune`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Task": "finehub.finetune.tasks.base:Task",
    "task_kind": "finehub.finetune.kinds:task_kind",
    "export_onnx": "finehub.finetune.onnx_export:export_onnx",
    "Strategy": "finehub.finetune.strategies:Strategy",
    "AdamWeightDecay": "finehub.finetune.strategies:AdamWeightDecay",
    "L2SP": "finehub.finetune.strategies:L2SP",
    "ULMFiT": "finehub.finetune.strategies:ULMFiT",
    "DefaultStrategy": "finehub.finetune.strategies:DefaultStrategy",
    "RunConfig": "finehub.finetune.config:RunConfig",
    "Trainer": "finehub.finetune.trainer:Trainer",
    "FinetuneResult": "finehub.finetune.trainer:FinetuneResult",
    "Callback": "finehub.finetune.callbacks:Callback",
    "TrainerState": "finehub.finetune.callbacks:TrainerState",
    "TrainerControl": "finehub.finetune.callbacks:TrainerControl",
}


def __getattr__(name: str) -> Any:
    from finehub._utils.lazy import lazy_attribute
    from finehub.finetune.kinds import public_class  # task classes come from the task-kind registry

    value = lazy_attribute("finehub.finetune", name, _LAZY, public_class)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from finehub.finetune.kinds import public_classes

    return sorted([*globals(), *_LAZY, *public_classes()])
