"""Fine-tuning tasks: a backbone plus head, loss, metrics, collation and prediction.

Each file below is one task kind and registers itself (:mod:`finehub.finetune.kinds`); importing
this package registers them all. A new kind is one more file and one more name here.
"""

from finehub.finetune.tasks import (  # noqa: F401 - imported to register their kinds
    image_classification,
    multilabel,
    object_detection,
    regression,
    sequence_labeling,
    text_classification,
    text_matching,
)
from finehub.finetune.tasks._text_base import TextTask, as_text_backbone
from finehub.finetune.tasks.base import Task
from finehub.finetune.tasks.text_classification import TextClassificationTask, TextClassifierTask

__all__ = ["Task", "TextClassificationTask", "TextClassifierTask", "TextTask", "as_text_backbone"]
