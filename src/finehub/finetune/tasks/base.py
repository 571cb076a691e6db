"""The Task contract: what a kind of problem adds to a pretrained backbone.

A task is the backbone plus a head (together ``self.model``, an ``nn.Module`` with ``encoder``
and ``head`` attributes), a loss, metrics, collation and prediction. Lifecycle:

1. The user builds the task around a backbone; the head is initialised from ``seed`` without
   touching the global RNG.
2. The Trainer calls ``bind(dataset)`` (check and adopt label names), ``encode(examples)`` once
   per split, then per step ``collate`` -> ``model(**inputs)`` -> ``loss``; per evaluation
   ``compute_metrics`` over the outputs of the whole split, in example order.
3. After training ``model`` holds the best weights: ``predict`` and ``export_files`` use them.

PaddleHub 1.x builds a task with ``config=`` (and here ``dataset=``) and calls
``task.finetune_and_eval()``: every kind's constructor takes those two keywords through
:meth:`Task.__init_subclass__`, while its signature, which YAML checks keys against, stays its own.

Subclasses implement the head (in ``__init__``), ``encode``, ``loss``, ``compute_metrics``,
``predict`` and ``export_config``, and register their kind with
:func:`finehub.finetune.kinds.task_kind`; everything else is shared.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from finehub.errors import ConfigError
from finehub.finetune.collate import EncodedSplit, collate
from finehub.finetune.metrics import check_metric_names, higher_is_better

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from finehub.data.dataset import Dataset, TextExample
    from finehub.finetune.config import RunConfig
    from finehub.finetune.kinds import TaskKind
    from finehub.finetune.trainer import FinetuneResult, Trainer

B = TypeVar("B")


class Task(ABC):
    """Base class of fine-tuning tasks (see the module docstring for the lifecycle)."""

    model: nn.Module
    kind: TaskKind | None = None  # set by @task_kind (finehub.finetune.kinds) on each kind's class
    pad_id: int = 0
    known_metrics: tuple[str, ...] = ()
    weights_file: str = "model.safetensors"  # the file of an exported folder holding model's state dict
    run_config: RunConfig | None = None  # PaddleHub's config= (see finetune_and_eval)
    run_dataset: Dataset | str | None = None  # the dataset= finetune_and_eval trains on
    trainer: Trainer | None = None  # the Trainer finetune_and_eval built

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _taking_run_args(init)  # type: ignore[method-assign]

    def __init__(self, *, metrics: Sequence[str], main_metric: str) -> None:
        self.metrics = check_metric_names(metrics, main_metric, self.known_metrics)
        self.main_metric = main_metric
        self._encoded: dict[str, EncodedSplit] = {}

    def finetune_and_eval(self, dataset: Dataset | str | None = None) -> FinetuneResult:
        """PaddleHub 1.x's ``task.finetune_and_eval()``: build a Trainer from the task's ``config=``
        (its ``strategy``, else :class:`DefaultStrategy`) and train on ``dataset``, else on the
        task's ``dataset=``. The Trainer stays as ``self.trainer`` (``export``, ``result``)."""
        from finehub.finetune.config import RunConfig
        from finehub.finetune.strategies import DefaultStrategy
        from finehub.finetune.trainer import Trainer

        dataset = dataset if dataset is not None else self.run_dataset
        if dataset is None:
            raise ConfigError(
                "dataset", "nothing to train on; pass dataset= to the task or to finetune_and_eval()"
            )
        config = self.run_config if self.run_config is not None else RunConfig()
        strategy = getattr(config, "strategy", None) or DefaultStrategy()
        self.trainer = Trainer(self, strategy, config)
        return self.trainer.finetune_and_eval(dataset)

    @property
    def steps_run_the_encoder(self) -> bool:
        """False where training steps read cached encoder outputs: the trainer then makes no bf16
        copy of an encoder that never runs in a step."""
        return True

    @property
    def greater_is_better(self) -> bool:
        return higher_is_better(self.main_metric)

    def bind(self, dataset: Dataset) -> None:  # noqa: B027 - an optional hook
        """Check the dataset fits the task before training on it (labels, classes)."""

    def encode(self, examples: Sequence[TextExample], *, split: str = "data") -> EncodedSplit:
        """Token ids and labels of ``examples``, computed once per distinct content."""
        key = self.encoding_key(examples)
        if key not in self._encoded:
            self._encoded[key] = self.encode_examples(examples, split=split)
        return self._encoded[key]

    def collate(self, split: EncodedSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """A padded batch; ``labels`` is popped by the Trainer, the rest goes to ``model``."""
        return collate(split, indices, self.pad_id)

    def load_weights(self, folder: Path) -> None:
        """Load the weights of an exported folder (e.g. the run's ``best_model/``) into ``model``."""
        from finehub.hub.weights import load_state_dict

        self.model.load_state_dict(load_state_dict(folder / self.weights_file))

    def save_weights(self, folder: Path) -> None:
        """Write ``model``'s state dict into ``folder`` as the exported module reads it (safetensors, on CPU)."""
        from safetensors.torch import save_file

        state = {k: v.detach().to("cpu").contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / self.weights_file))

    @abstractmethod
    def encoding_key(self, examples: Sequence[TextExample]) -> str:
        """A content key for the tokenise-once cache (texts, labels and settings)."""

    @abstractmethod
    def encode_examples(self, examples: Sequence[TextExample], *, split: str) -> EncodedSplit: ...

    @abstractmethod
    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch (float32)."""

    @abstractmethod
    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        """The task's metrics over a whole split (floats; extra JSON-able details allowed)."""

    @abstractmethod
    def predict(self, inputs: Sequence[Any], **kwargs: Any) -> list[dict[str, Any]]: ...

    @abstractmethod
    def export_config(self, folder: Path) -> dict[str, Any]:
        """Write the network's files into ``folder``; return module.json's ``config``, what the
        exported module class rebuilds the network from."""

    def report_section(self, run_dir: Path, examples: Sequence[Any]) -> str | None:
        """Markdown of the task's own for ``report.md``, made from a few held-out ``examples`` with
        the best weights (files it shows go into ``run_dir``); None adds nothing."""
        return None

    def export_files(self, folder: Path) -> dict[str, Any]:
        """Write the network's files into ``folder``; return the module.json fields the task
        decides (``entry``, ``task``, ``config``, ``inputs``, ``outputs``, ``tags``)."""
        kind = self.kind
        if kind is None:
            raise ConfigError(
                "task", f"{type(self).__name__} is not a registered task kind; decorate it with @task_kind"
            )
        info = kind.module_class().info
        return {
            "entry": kind.module,
            "task": kind.name,
            "tags": list(kind.tags),
            "inputs": dict(info.inputs),
            "outputs": dict(info.outputs),
            "config": self.export_config(folder),
        }


def _taking_run_args(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` also taking PaddleHub's ``config=`` and ``dataset=``; its signature is kept."""

    @functools.wraps(init)
    def __init__(self: Task, *args: Any, config: Any = None, dataset: Any = None, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if config is not None:
            self.run_config = config
        if dataset is not None:
            self.run_dataset = dataset

    return __init__


class SingleLabelClassification:
    """Cross-entropy over ``num_classes`` logits and the classification metrics (plus the confusion
    matrix): what single-label text and image classification share. Mix in before the Task base."""

    num_classes: int
    metrics: tuple[str, ...]

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs.float(), labels)

    def compute_metrics(self, outputs: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        from finehub.finetune.metrics import classification_metrics, confusion_matrix

        preds = outputs.argmax(-1).cpu().numpy()
        metrics: dict[str, Any] = classification_metrics(labels, preds, self.num_classes, self.metrics)
        metrics["confusion_matrix"] = confusion_matrix(labels, preds, self.num_classes).tolist()
        return metrics


def as_backbone(module_or_backbone: Any, kind: type[B], wrong: str) -> B:
    """A ``kind`` backbone, given one or a module that provides one through ``backbone()``; else
    ConfigError saying the argument is not ``wrong`` (what it should be and how to get one)."""
    if isinstance(module_or_backbone, kind):
        return module_or_backbone
    backbone = getattr(module_or_backbone, "backbone", None)
    if callable(backbone):
        result = backbone()
        if isinstance(result, kind):
            return result
    raise ConfigError("module", f"{module_or_backbone!r} is not {wrong}")


# --- what bind() checks ---------------------------------------------------------------------------


def bind_examples(task: Any, dataset: Dataset, kind: type, wanted: str, *, unit: str = "classes") -> None:
    """``bind`` of a task on ``kind`` examples with a class per label: ConfigError unless every
    training example of ``dataset`` is a ``kind`` (``wanted`` says which examples the task needs and
    where to get them) and the class counts agree; then the dataset's label names are adopted."""
    if not all(isinstance(e, kind) for e in dataset.train):
        raise ConfigError("dataset", f"{dataset.name!r} does not hold {wanted}")
    check_class_count(task, dataset, unit=unit)
    adopt_label_names(task, dataset)


def check_class_count(task: Any, dataset: Dataset, *, unit: str = "classes") -> None:
    """ConfigError unless ``dataset`` has the task's ``num_classes`` (``unit``: what a class is called)."""
    if dataset.num_classes != task.num_classes:
        raise ConfigError(
            "num_classes",
            f"the task has {task.num_classes} {unit} but dataset {dataset.name!r} has "
            f"{dataset.num_classes} ({dataset.label_names}); build it with num_classes=ds.num_classes",
        )


def adopt_label_names(task: Any, dataset: Dataset) -> None:
    """Give the task the dataset's label names unless it was built with its own."""
    if task.label_names == [str(i) for i in range(task.num_classes)]:
        task.label_names = list(dataset.label_names)
