"""finehub: pretrained models usable in one line and fine-tunable in ten.

Attributes are loaded on first use so that ``import finehub`` stays fast.
"""

from __future__ import annotations

from finehub._utils.lazy import lazy_package as _lazy_package
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

# task classes (TextClassificationTask, ...) come from the task-kind registry
__getattr__, __dir__ = _lazy_package("finehub", globals(), _LAZY, registry="finehub.finetune.kinds")
