"""Fine-tuning: tasks (head, loss, metrics), strategies (optimizer, schedule, regularisation),
RunConfig, the Trainer and its callbacks, and export to a loadable module folder.

Names are imported on first use so that ``import finehub.finetune`` stays cheap.
"""

from __future__ import annotations

from finehub._utils.lazy import lazy_package as _lazy_package

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

# task classes (TextClassificationTask, ...) come from the task-kind registry
__getattr__, __dir__ = _lazy_package("finehub.finetune", globals(), _LAZY, registry="finehub.finetune.kinds")
