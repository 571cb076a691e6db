"""Task kinds: one registered description per kind of fine-tuning problem.

Each ``finetune/tasks/<x>.py`` is the single home of its kind: the Task class carries a
``@task_kind(...)`` decorator naming everything else about the kind, and the rest of finehub reads
this registry instead of keeping lists of its own:

- the YAML ``task.type`` names and the public Python names (PaddleHub's spellings included) —
  :mod:`finehub.finetune.yaml_config`, ``finehub.<Name>`` and ``finehub.finetune.<Name>``;
- the exported module class (``module``), whose ``info`` fills module.json and which answers for the
  ONNX graph too (``onnx_feeds``/``onnx_predict``, read by :mod:`finehub.modules.onnx_runtime`);
- how the kind exports to ONNX (:class:`OnnxSpec`: graph inputs and outputs, runtime settings,
  sample inputs, how answers are compared and scored) — :mod:`finehub.finetune.onnx_export`.

Adding a kind: write ``finetune/tasks/<x>.py`` with a decorated Task subclass, and name the file
in ``finetune/tasks/__init__.py``. Registering a name twice is an error; an unknown name lists the
close matches.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from finehub.errors import ConfigError

if TYPE_CHECKING:
    from finehub.finetune.tasks.base import Task
    from finehub.hub.module import ModuleBase

T = TypeVar("T", bound=type)

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SAMPLE_TEXTS = (
    "The central bank raised interest rates by half a point on Tuesday.",
    "A thrilling final: the home side scored twice in the last ten minutes.",
    "新华社北京一月一日电，国家主席在人民大会堂发表新年讲话。",
    "Short.",
    "Critics praised the film's soundtrack, but the plot left audiences cold.",
    "今天天气很好，我们去公园散步吧。",
)


# --- what the text kinds share by default -------------------------------------------------------------


def text_axes(
    output: str, *output_dims: str, inputs: Sequence[str] = TEXT_INPUTS
) -> dict[str, dict[int, str]]:
    """Dynamic axes of a text graph: batch and sequence on every input, ``output_dims`` on the output."""
    return {
        **{n: {0: "batch", 1: "sequence"} for n in inputs},
        output: dict(enumerate(output_dims or ("batch",))),
    }


def text_settings(*keys: str) -> Callable[[Any], dict[str, Any]]:
    """Runtime settings of a text graph: truncation and padding, plus the module config's ``keys``."""

    def settings(module: Any) -> dict[str, Any]:
        tok = module.tokenizer
        return {
            "max_seq_len": module.config["max_seq_len"],
            "pad_id": tok.pad_token_id or 0,
            "pad_token": tok.pad_token or "[PAD]",
            **{k: module.config[k] for k in keys},
        }

    return settings


def text_sample(example: Any) -> Any:
    """What a text module's predict takes for one dataset example: the text, or the pair."""
    return example.text_a if example.text_b is None else [example.text_a, example.text_b]


def label_answer(result: Mapping[str, Any]) -> Any:
    return result["label"]


def accuracy_score(
    results: Sequence[Mapping[str, Any]], examples: Sequence[Any], label_names: Sequence[str]
) -> tuple[str, float]:
    hits = sum(r["label"] == label_names[e.label] for r, e in zip(results, examples, strict=True))
    return "accuracy", hits / max(len(results), 1)


@dataclass(frozen=True)
class OnnxSpec:
    """How a kind's exported module becomes an ONNX graph, and how the two are compared.

    ``settings(module)`` is what the runtime needs beyond the graph (labels, tags, thresholds...),
    written to module.json's ``config["onnx"]``; ``sample(example)`` turns a labelled example
    into a predict input and ``fallback()`` gives inputs when no dataset is at hand; ``answer``
    extracts the comparable essence of a result (label, label set, tag list, number), and
    ``score(results, examples, label_names)`` the kind's headline metric for the int8 check;
    ``network(module)`` is what is traced (one output).
    """

    settings: Callable[[ModuleBase], dict[str, Any]]
    output: str = "logits"
    inputs: tuple[str, ...] = TEXT_INPUTS
    axes: Mapping[str, Mapping[int, str]] = field(default_factory=lambda: text_axes("logits"))
    tokenizer: bool = True  # the graph reads text: tokenizer.json travels with it
    sample: Callable[[Any], Any] = text_sample
    fallback: Callable[[], list[Any]] = lambda: list(SAMPLE_TEXTS)
    answer: Callable[[Mapping[str, Any]], Any] = label_answer
    score: Callable[[Sequence[Any], Sequence[Any], Sequence[str]], tuple[str, float]] = accuracy_score
    network: Callable[[Any], Any] = lambda module: module.net  # the nn.Module the graph is traced from


def image_onnx(*config_keys: str, output: str = "logits", **options: Any) -> OnnxSpec:
    """The ONNX description of an image kind: one ``pixel_values`` input and the output, each with
    a dynamic batch; no tokenizer; an example's image as its sample; the module config's
    ``config_keys`` as the runtime settings. ``options``: the rest of :class:`OnnxSpec`."""
    return OnnxSpec(
        settings=lambda m: {k: m.config[k] for k in config_keys},
        output=output,
        inputs=("pixel_values",),
        axes={"pixel_values": {0: "batch"}, output: {0: "batch"}},
        tokenizer=False,
        sample=lambda e: e.image,
        **options,
    )


@dataclass(frozen=True)
class TaskKind:
    """One kind of fine-tuning problem (see the module docstring)."""

    name: str  # module.json's ``task`` of the exported module, and the ONNX kind
    task: type[Task]
    names: tuple[str, ...]  # other YAML type names and public Python names (PaddleHub's included)
    module: str  # "package.module:Class" of the exported module class
    tags: tuple[str, ...]  # module.json tags of an exported module
    onnx: OnnxSpec | None = None

    def module_class(self) -> type[ModuleBase]:
        target, _, attr = self.module.partition(":")
        return getattr(importlib.import_module(target), attr)


_KINDS: dict[str, TaskKind] = {}  # every name (kind name and aliases) -> its kind


def task_kind(
    name: str,
    *,
    names: Sequence[str] = (),
    module: str,
    tags: Sequence[str],
    onnx: OnnxSpec | None = None,
) -> Callable[[T], T]:
    """Class decorator registering a Task subclass as kind ``name`` (also reachable as ``names``)."""

    def register(cls: T) -> T:
        kind = TaskKind(name, cls, tuple(names), module, tuple(tags), onnx)
        taken = [n for n in (name, *names) if n in _KINDS]
        if taken:
            raise ConfigError(
                "task kind", f"{taken[0]!r} is already registered by {_KINDS[taken[0]].task.__name__}"
            )
        for n in (name, *names):
            _KINDS[n] = kind
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return register


def _registered() -> dict[str, TaskKind]:
    importlib.import_module("finehub.finetune.tasks")  # its files register the built-in kinds
    return _KINDS


def find_kind(name: str) -> TaskKind | None:
    """The kind called ``name`` (a kind name, YAML alias or public class name), if any."""
    return _registered().get(name)


def get_kind(name: str, *, field: str = "task.type") -> TaskKind:
    """The kind called ``name``; an unknown name is a ConfigError on ``field`` with close matches."""
    kinds = _registered()
    if name in kinds:
        return kinds[name]
    close = difflib.get_close_matches(str(name), list(kinds), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(field, f"unknown task {name!r}{hint}; choose from {all_names()}")


def kind_names() -> list[str]:
    return sorted({k.name for k in _registered().values()})


def all_names() -> list[str]:
    """Every name a YAML ``task.type`` accepts."""
    return sorted(_registered())


def kind_of(task: Task | type[Task]) -> TaskKind:
    """The registered kind of a task (or task class)."""
    kind = getattr(task, "kind", None)
    if not isinstance(kind, TaskKind):
        what = task if isinstance(task, type) else type(task)
        raise ConfigError(
            "task", f"{what.__name__} is not a registered task kind; decorate it with @task_kind"
        )
    return kind


def public_class(name: str) -> type[Task] | None:
    """The task class ``finehub.<name>`` names, if any (without loading the tasks for other names)."""
    return public_classes().get(name) if name.endswith("Task") else None


def public_classes() -> dict[str, type[Task]]:
    """``finehub.<Name>`` task classes: every registered name that is a Python identifier."""
    return {n: k.task for n, k in _registered().items() if n.isidentifier() and n[0].isupper()}
