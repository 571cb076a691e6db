"""Fine-tuning tasks: a backbone plus head, loss, metrics, collation and prediction."""

from finehub.finetune.tasks.base import Task
from finehub.finetune.tasks.text_classification import (
    TextClassificationTask,
    TextClassifierTask,
    as_text_backbone,
)

__all__ = ["Task", "TextClassificationTask", "TextClassifierTask", "as_text_backbone"]
