"""Fine-tuning: tasks (head, loss, metrics), strategies (optimizer, schedule, regularisation),
RunConfig, the Trainer and its callbacks, and export to a loadable module folder.

Names are imported on first use so that ``import finehub.finetune`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Task": "finehub.finetune.tasks",
    "TextClassificationTask": "finehub.finetune.tasks",
    "TextClassifierTask": "finehub.finetune.tasks",
    "MultiLabelClassificationTask": "finehub.finetune.tasks.multilabel",
    "MultiLabelClassifierTask": "finehub.finetune.tasks.multilabel",
    "RegressionTask": "finehub.finetune.tasks.regression",
    "SequenceLabelingTask": "finehub.finetune.tasks.sequence_labeling",
    "SequenceLabelTask": "finehub.finetune.tasks.sequence_labeling",
    "TextMatchingTask": "finehub.finetune.tasks.text_matching",
    "ImageClassificationTask": "finehub.finetune.tasks.image_classification",
    "ImageClassifierTask": "finehub.finetune.tasks.image_classification",
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

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'finehub.finetune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
