"""Fine-tuning tasks: a backbone plus head, loss, metrics, collation and prediction."""

from finehub.finetune.tasks._text_base import TextTask, as_text_backbone
from finehub.finetune.tasks.base import Task
from finehub.finetune.tasks.text_classification import TextClassificationTask, TextClassifierTask

__all__ = ["Task", "TextClassificationTask", "TextClassifierTask", "TextTask", "as_text_backbone"]
