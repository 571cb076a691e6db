"""The ten lines as a file: a YAML document mapped onto the same objects ``finehub finetune`` runs.

::

    dataset:  {name: chinese-reviews, subset: {train: 2000, dev: 400, test: 400}, seed: 0}
              # or your files: {from: coco, options: {annotations: train.json, images_dir: images/}}
    module:   minilm-l6                      # or {name: minilm-l6, version: "1.0.0", ...init args}
    task:     {type: text-classification, max_seq_len: 128, extend_vocab: true}
    strategy: {type: AdamWeightDecay, learning_rate: 5e-5, warmup_proportion: 0.1}
    config:   {num_epochs: 3, batch_size: 32, eval_interval: 100, checkpoint_dir: runs/zh}
    export:   {name: my-sentiment, version: 1.0.0}   # optional

Keys are checked against the parameters of the class they configure; a wrong one is reported
with its full path (``strategy.learnig_rate``) and the keys that would be accepted.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError, DataFormatError
from finehub.finetune.kinds import get_kind

if TYPE_CHECKING:
    from finehub.data.dataset import Dataset
    from finehub.finetune.config import RunConfig
    from finehub.finetune.strategies import Strategy
    from finehub.finetune.tasks.base import Task
    from finehub.finetune.trainer import FinetuneResult, Trainer

SECTIONS = ("dataset", "module", "task", "strategy", "config", "export")


@dataclass
class FinetuneJob:
    """Everything a YAML file describes, built and ready to run."""

    dataset: Dataset
    task: Task
    strategy: Strategy
    config: RunConfig
    export: dict[str, Any] | None = None

    def run(self) -> tuple[Trainer, FinetuneResult, Path | None]:
        """Fine-tune, evaluate, and export when the file asks; returns the exported module's path."""
        from finehub.finetune.trainer import Trainer

        trainer = Trainer(self.task, self.strategy, self.config)
        result = trainer.finetune_and_eval(self.dataset)
        exported = trainer.export(**self.export) if self.export else None
        return trainer, result, exported


def load_job(path: str | Path, overrides: Mapping[str, Any] | None = None) -> FinetuneJob:
    """Read and build a job; ``overrides`` replace keys of the ``config`` section."""
    data = read_yaml(Path(path))
    if overrides:
        data = {**data, "config": {**(data.get("config") or {}), **overrides}}
    return build_job(data)


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), f"cannot be read ({e.strerror})") from e
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise DataFormatError(
            str(path), f"invalid YAML: {getattr(e, 'problem', e)}", line=mark.line + 1 if mark else None
        ) from e
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must be a YAML mapping with sections " + ", ".join(SECTIONS))
    return data


def build_job(data: Mapping[str, Any]) -> FinetuneJob:
    from finehub.finetune.config import RunConfig
    from finehub.finetune.strategies import STRATEGIES

    _known("", data, SECTIONS)
    for required in ("dataset", "module", "task", "strategy"):
        if required not in data:
            raise ConfigError(required, "section is missing; see examples/finetune.yaml")
    # the cheap sections first, so a typo fails before any data or weights are loaded
    strategy_cfg = dict(_section(data, "strategy"))
    kind = strategy_cfg.pop("type", "AdamWeightDecay")
    if kind not in STRATEGIES:
        raise ConfigError("strategy.type", f"unknown strategy {kind!r}; choose from {sorted(STRATEGIES)}")
    strategy = _construct("strategy", STRATEGIES[kind], strategy_cfg)
    config = _construct("config", RunConfig, dict(_section(data, "config")))
    export = data.get("export")
    if export is not None:
        if not isinstance(export, Mapping) or "name" not in export:
            raise ConfigError("export", "must be a mapping with at least a name, e.g. {name: my-sentiment}")
        _known("export", export, ("name", "version", "output_dir"))
        export = {k: str(v) for k, v in export.items()}
    task_cfg = _section(data, "task")
    kind = get_kind(task_cfg.get("type", "text-classification"))

    dataset = _dataset(_section(data, "dataset"))
    task = _task(kind.task, task_cfg, _module(data["module"]), dataset)
    return FinetuneJob(dataset, task, strategy, config, export)


READERS = ("tsv", "csv", "jsonl", "folder", "image_folder", "coco", "voc", "yolo")  # dataset.from


def _dataset(cfg: Mapping[str, Any]) -> Dataset:
    from finehub.data import datasets

    _known("dataset", cfg, ("name", "from", "subset", "seed", "options"))
    options = dict(cfg.get("options") or {})
    if "from" in cfg:  # the user's own files: options are the reader's arguments
        reader = cfg["from"]
        if reader not in READERS or "name" in cfg:
            raise ConfigError(
                "dataset.from",
                f"must be one of {', '.join(READERS)} (and comes without dataset.name), got {reader!r}",
            )
        function = getattr(datasets, reader if reader == "image_folder" else f"from_{reader}")
        ds = _construct("dataset.options", function, options)
    elif "name" not in cfg:
        raise ConfigError(
            "dataset.name",
            f"is missing; built-in datasets: {', '.join(datasets.list_datasets())} "
            f"(or dataset.from: one of {', '.join(READERS)}, for your own files)",
        )
    else:
        ds = datasets.load(cfg["name"], **options)
    if cfg.get("subset"):
        ds = ds.subset(dict(cfg["subset"]), seed=int(cfg.get("seed", 0)))
    return ds


def _module(cfg: Any) -> Any:
    from finehub.hub.loader import Module

    if isinstance(cfg, str):
        return Module(cfg)
    if isinstance(cfg, Mapping) and "name" in cfg:
        args = dict(cfg)
        return Module(args.pop("name"), args.pop("version", None), **args)
    raise ConfigError("module", "must be a module name (minilm-l6), a folder, or a mapping with a name")


def _task(cls: type[Task], cfg: Mapping[str, Any], module: Any, dataset: Dataset) -> Task:
    args = dict(cfg)
    args.pop("type", None)
    if args.pop("extend_vocab", False):
        args["extend_vocab_from"] = dataset.train
    accepted = inspect.signature(cls).parameters
    for key, value in (("num_classes", dataset.num_classes), ("label_names", dataset.label_names)):
        if key in accepted:  # regression takes neither
            args.setdefault(key, value)
    return _construct(
        "task",
        cls,
        {"module": module, **args},
        hidden=("module", "extend_vocab_from"),
        extra=("type", "extend_vocab"),
    )


def _construct(
    section: str,
    cls: type,
    args: dict[str, Any],
    *,
    hidden: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> Any:
    """``cls(**args)`` after checking the keys; ConfigErrors get the section as a prefix."""
    params = [p for p in inspect.signature(cls).parameters if p not in hidden and p != "_"]
    _known(section, {k: v for k, v in args.items() if k not in hidden}, (*params, *extra))
    try:
        return cls(**args)
    except ConfigError as e:
        raise ConfigError(f"{section}.{e.field}", e.problem) from e


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(name, f"must be a mapping of settings, got {type(value).__name__}")
    return value


def _known(section: str, given: Mapping[str, Any], allowed: tuple[str, ...] | list[str]) -> None:
    unknown = [k for k in given if k not in allowed]
    if unknown:
        where = f"{section}.{unknown[0]}" if section else str(unknown[0])
        raise ConfigError(
            where, f"unknown key; accepted keys{' in ' + section if section else ''}: {', '.join(allowed)}"
        )


def _loader() -> type:
    """A SafeLoader that also reads ``5e-5`` as a float (YAML 1.1 wants ``5.0e-5``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    float_re = re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    )
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_re, list("-+0123456789."))
    return Loader
