"""finehub: pretrained models usable in one line and fine-tunable in ten.

Attributes are loaded on first use so that ``import finehub`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"; resolved lazily by __getattr__
_LAZY: dict[str, str] = {
    "Module": "finehub.hub.loader:Module",
    "ModuleBase": "finehub.hub.module:ModuleBase",
    "moduleinfo": "finehub.hub.module:moduleinfo",
    "runnable": "finehub.hub.module:runnable",
    "serving": "finehub.hub.module:serving",
    "datasets": "finehub.data.datasets:",
    "autotune": "finehub.autotune:",
    # fine-tuning: the ten lines
    "RunConfig": "finehub.finetune.config:RunConfig",
    "Trainer": "finehub.finetune.trainer:Trainer",
    "AdamWeightDecay": "finehub.finetune.strategies:AdamWeightDecay",
    "L2SP": "finehub.finetune.strategies:L2SP",
    "ULMFiT": "finehub.finetune.strategies:ULMFiT",
    "DefaultStrategy": "finehub.finetune.strategies:DefaultStrategy",
    "TextClassificationTask": "finehub.finetune.tasks.text_classification:TextClassificationTask",
    "TextClassifierTask": "finehub.finetune.tasks.text_classification:TextClassifierTask",
    "MultiLabelClassificationTask": "finehub.finetune.tasks.multilabel:MultiLabelClassificationTask",
    "MultiLabelClassifierTask": "finehub.finetune.tasks.multilabel:MultiLabelClassifierTask",
    "RegressionTask": "finehub.finetune.tasks.regression:RegressionTask",
    "SequenceLabelingTask": "finehub.finetune.tasks.sequence_labeling:SequenceLabelingTask",
    "SequenceLabelTask": "finehub.finetune.tasks.sequence_labeling:SequenceLabelTask",
    "TextMatchingTask": "finehub.finetune.tasks.text_matching:TextMatchingTask",
    "ImageClassificationTask": "finehub.finetune.tasks.image_classification:ImageClassificationTask",
    "ImageClassifierTask": "finehub.finetune.tasks.image_classification:ImageClassifierTask",
    "export_onnx": "finehub.finetune.onnx_export:export_onnx",
    "Augmentation": "finehub.data.augment:Augmentation",
    "image_folder": "finehub.data.image_datasets:image_folder",
    # PaddleHub's strategy names
    "AdamWeightDecayStrategy": "finehub.finetune.strategies:AdamWeightDecay",
    "L2SPFinetuneStrategy": "finehub.finetune.strategies:L2SP",
    "ULMFiTStrategy": "finehub.finetune.strategies:ULMFiT",
    "DefaultFinetuneStrategy": "finehub.finetune.strategies:DefaultStrategy",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'finehub' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
