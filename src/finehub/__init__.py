"""finehub: pretrained models usable in one line and fine-tunable in ten.

Attributes are loaded on first use so that ``import finehub`` stays fast.
"""

from __future__ import annotations

from typing import Any

from finehub._version import __version__ as __version__

# public name -> "module:attribute"; resolved lazily by __getattr__
_LAZY: dict[str, str] = {
    "Module": "finehub.hub.loader:Module",
    "ModuleBase": "finehub.hub.module:ModuleBase",
    "moduleinfo": "finehub.hub.module:moduleinfo",
    "runnable": "finehub.hub.module:runnable",
    "serving": "finehub.hub.module:serving",
    "datasets": "finehub.data.datasets:",
    "dataset": "finehub.data.paddle_datasets:",  # PaddleHub's hub.dataset.ChnSentiCorp()
    "autotune": "finehub.autotune:",
    # fine-tuning: the ten lines
    "RunConfig": "finehub.finetune.config:RunConfig",
    "Trainer": "finehub.finetune.trainer:Trainer",
    "AdamWeightDecay": "finehub.finetune.strategies:AdamWeightDecay",
    "L2SP": "finehub.finetune.strategies:L2SP",
    "ULMFiT": "finehub.finetune.strategies:ULMFiT",
    "DefaultStrategy": "finehub.finetune.strategies:DefaultStrategy",
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
    from finehub._utils.lazy import lazy_attribute
    from finehub.finetune.kinds import public_class  # task classes come from the task-kind registry

    value = lazy_attribute("finehub", name, _LAZY, public_class)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from finehub.finetune.kinds import public_classes

    return sorted([*globals(), *_LAZY, *public_classes()])
