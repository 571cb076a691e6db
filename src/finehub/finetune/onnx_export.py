"""Export a fine-tuned module to ONNX, check it reproduces the PyTorch model, optionally quantise it.

    result = export_onnx("runs/zh")                  # a run folder (its best_model/), a module folder or name
    result = export_onnx("my-ner", quantize="int8")  # + dynamic int8 weights, accuracy delta on the dev set

The output is a module folder that :class:`finehub.modules.onnx_runtime.OnnxModule` runs with
onnxruntime alone (``finehub.Module(folder)`` works, no torch import). Steps:

1. load the module, trace its network with ``torch.onnx.export`` (dynamic batch and sequence axes;
   the TorchScript exporter, which needs no extra package);
2. write ``model.onnx``, ``tokenizer.json`` (text) and ``module.json`` whose ``config["onnx"]``
   carries the pre-/post-processing settings;
3. parity: the same prepared inputs through PyTorch and onnxruntime (max |difference| of the raw
   outputs), and the two modules' final answers (agreement); beyond ``tolerance`` or below
   ``min_agreement`` the export is refused with :class:`~finehub.errors.ExportError`;
4. ``quantize="int8"``: ``onnxruntime.quantization.quantize_dynamic``; the task's metric on the dev
   split (or test) of the run's dataset is measured before and after, and the int8 graph replaces
   the float one.

Parity samples and the quantisation check use the dataset the module was fine-tuned on (its
``config["finetuned"]["dataset"]``, when it is a registered one) or the ``dataset`` you pass;
without either, parity uses a few fixed inputs and the quantisation delta is left out.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.lazy import require
from finehub.errors import ConfigError, DatasetNotFoundError, ExportError

if TYPE_CHECKING:
    import torch

    from finehub.data.dataset import Dataset
    from finehub.finetune.kinds import OnnxSpec, TaskKind
    from finehub.hub.module import ModuleBase

log = logging.getLogger(__name__)

QUANTIZE = ("int8",)
ONNX_ENTRY = "finehub.modules.onnx_runtime:OnnxModule"


@dataclass(frozen=True)
class Parity:
    """PyTorch vs onnxruntime on ``samples`` inputs."""

    samples: int
    max_abs_diff: float  # over the raw outputs (logits, scores, values)
    agreement: float  # share of inputs whose final answers agree (top-1 label, label set, tags...)


@dataclass(frozen=True)
class Quantization:
    """The task's dev metric before and after int8 quantisation (``None`` values: no labelled data)."""

    metric: str | None
    float_value: float | None
    int8_value: float | None
    examples: int
    agreement: float  # share of inputs whose answers the float and int8 graphs agree on
    float_bytes: int
    int8_bytes: int

    @property
    def delta(self) -> float | None:
        if self.float_value is None or self.int8_value is None:
            return None
        return self.int8_value - self.float_value


@dataclass(frozen=True)
class OnnxExport:
    folder: Path
    kind: str
    parity: Parity
    quantization: Quantization | None


# --- what each kind of module exports ---------------------------------------------------------------


@dataclass(frozen=True)
class _Graph:
    """A module's network as ONNX sees it: its kind's spec, the network and the runtime settings."""

    kind: TaskKind
    spec: OnnxSpec
    net: torch.nn.Module
    settings: dict[str, Any]


def _graph(module: ModuleBase) -> _Graph:
    """The module's kind (from module.json's ``task``) and its ONNX description."""
    from finehub.finetune.kinds import find_kind, kind_names

    task = module.info.task
    kind = find_kind(task)
    if kind is None or kind.onnx is None or not isinstance(module, kind.module_class()):
        raise ConfigError(
            "module",
            f"{module.info.name!r} ({type(module).__name__}, task {task!r}) cannot be exported to ONNX; export "
            f"works for modules fine-tuned with finehub ({', '.join(kind_names())})",
        )
    return _Graph(
        kind, kind.onnx, kind.onnx.network(module), {**kind.onnx.settings(module), "module": kind.module}
    )


def _agreement(spec: OnnxSpec, a: Sequence[Any], b: Sequence[Any]) -> float:
    same = 0
    for x, y in zip(a, b, strict=True):
        x, y = spec.answer(x), spec.answer(y)
        same += abs(x - y) <= 1e-3 * (1 + abs(x)) if isinstance(x, float) else x == y
    return same / max(len(a), 1)


# --- the export ---------------------------------------------------------------------------------------


def resolve_source(source: str | Path) -> Path:
    """The module folder ``source`` names: a run folder's ``best_model/``, a module folder, or an
    installed module's folder."""
    from finehub.hub.store import MANIFEST

    path = Path(source).expanduser()
    if (path / "best_model" / MANIFEST).is_file():
        return path / "best_model"
    if (path / MANIFEST).is_file():
        return path
    if path.exists():
        raise ConfigError(
            "source",
            f"{str(path)!r} is neither a run folder (with best_model/) nor a module folder "
            "(with module.json)",
        )
    from finehub.hub.loader import Module

    module = Module(str(source))
    if module.directory is None or not (module.directory / MANIFEST).is_file():
        raise ConfigError(
            "source", f"module {str(source)!r} has no folder with module.json; only fine-tuned modules export"
        )
    return module.directory


def export_onnx(
    source: str | Path,
    output_dir: str | Path | None = None,
    *,
    quantize: str | None = None,
    dataset: Dataset | str | None = None,
    tolerance: float = 1e-3,
    min_agreement: float = 0.98,
    samples: int = 32,
    max_eval: int = 512,
    opset: int = 17,
) -> OnnxExport:
    """Export ``source`` (run folder, module folder or module name) to an ONNX module folder
    (default: ``<run>/onnx``, or ``<module folder>-onnx``); see the module docstring."""
    from finehub.hub.loader import Module

    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError("quantize", f"must be one of {list(QUANTIZE)} or None, got {quantize!r}")
    if not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError("tolerance", f"must be a number >= 0, got {tolerance!r}")
    if not isinstance(min_agreement, (int, float)) or not 0 <= min_agreement <= 1:
        raise ConfigError("min_agreement", f"must be in [0, 1], got {min_agreement!r}")
    for name, value in (("samples", samples), ("max_eval", max_eval)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(name, f"must be a positive integer, got {value!r}")
    require("onnx", extra="export", feature="ONNX export")
    require("onnxruntime", extra="export", feature="ONNX export")
    folder = resolve_source(source)
    module = Module(str(folder))
    graph = _graph(module)
    if output_dir is None:
        output_dir = (
            folder.parent / "onnx" if folder.name == "best_model" else folder.with_name(f"{folder.name}-onnx")
        )
    output = Path(output_dir)
    examples, label_names = _examples(module, dataset, max_eval)
    inputs = [graph.spec.sample(e) for e in examples[:samples]] if examples else graph.spec.fallback()

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        runtime = _write(module, folder, graph, tmp, inputs, opset=opset, quantized=None)
        parity = _parity(module, runtime, graph, inputs)
        log.info(
            "ONNX parity on %d inputs: max |diff| %.3g, agreement %.3f",
            parity.samples,
            parity.max_abs_diff,
            parity.agreement,
        )
        if parity.max_abs_diff > tolerance or parity.agreement < min_agreement:
            raise ExportError(
                f"{module.info.name} to ONNX",
                f"the ONNX graph does not reproduce the PyTorch model on {parity.samples} inputs (max |difference| "
                f"{parity.max_abs_diff:.3g} > {tolerance:g}, or answers agree on {parity.agreement:.1%} < "
                f"{min_agreement:.0%}). Try another opset (opset=...), or pass a larger tolerance if that is acceptable",
            )
        quantization = None
        if quantize == "int8":
            quantization = _quantize(module, folder, graph, tmp, inputs, examples, label_names, opset=opset)
        from finehub.finetune.export import swap_into_place

        for path in (tmp, *tmp.iterdir()):  # mkdtemp's folder is private; an exported module is not
            path.chmod(0o755 if path.is_dir() else 0o644)
        swap_into_place(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return OnnxExport(output, graph.kind.name, parity, quantization)


def _examples(module: ModuleBase, dataset: Dataset | str | None, limit: int) -> tuple[list[Any], list[str]]:
    """Labelled examples to check against: the dev (or test) split of ``dataset``, or of the dataset
    the module was fine-tuned on when that is a registered one."""
    from finehub.data import datasets

    if dataset is None:
        dataset = (module.info.config.get("finetuned") or {}).get("dataset")
        if not dataset:
            return [], []
        try:
            dataset = datasets.load(dataset)
        except DatasetNotFoundError:
            log.info("Dataset %r is not registered; parity uses fixed sample inputs", dataset)
            return [], []
    elif isinstance(dataset, str):
        dataset = datasets.load(dataset)
    split = "dev" if "dev" in dataset else "test" if "test" in dataset else "train"
    return list(dataset[split][:limit]), list(dataset.label_names)


def _write(
    module: ModuleBase,
    folder: Path,
    graph: _Graph,
    out: Path,
    inputs: Sequence[Any],
    *,
    opset: int,
    quantized: str | None = None,
    model: Path | None = None,
) -> Any:
    """``model.onnx`` (traced, or copied from ``model``), tokenizer, module.json; returns the runtime module."""
    import torch

    from finehub.modules.onnx_runtime import MODEL_FILE, TOKENIZER_FILE, OnnxModule

    if graph.spec.tokenizer:
        tokenizer = folder / TOKENIZER_FILE
        if not tokenizer.is_file():
            raise ExportError(
                module.info.name, f"{tokenizer} is missing; only fast (tokenizer.json) tokenizers export"
            )
        shutil.copyfile(tokenizer, out / TOKENIZER_FILE)
    spec = graph.spec
    settings = {
        "kind": graph.kind.name,
        "inputs": list(spec.inputs),
        "output": spec.output,
        "quantized": quantized,
        **graph.settings,
    }
    if model is not None:
        shutil.copyfile(model, out / MODEL_FILE)
    else:
        _manifest(module, out, settings)
        feeds = OnnxModule(directory=out).feeds(inputs[:4])  # the runtime's own preprocessing
        args = tuple(torch.from_numpy(feeds[n]) for n in spec.inputs)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(
                graph.net.eval(),
                args,
                str(out / MODEL_FILE),
                dynamo=False,
                input_names=list(spec.inputs),
                output_names=[spec.output],
                dynamic_axes={k: dict(v) for k, v in spec.axes.items()},
                opset_version=opset,
            )
    _manifest(module, out, settings)
    return OnnxModule(directory=out)


def _manifest(module: ModuleBase, out: Path, settings: dict[str, Any]) -> None:
    """module.json of the ONNX folder, pinning every file present by sha256."""
    from finehub._utils.hashing import sha256_file
    from finehub._version import __version__
    from finehub.hub.module import Asset, ModuleInfo
    from finehub.hub.store import MANIFEST, write_manifest

    info = module.info
    files = sorted(p for p in out.iterdir() if p.is_file() and p.name != MANIFEST)
    write_manifest(
        out,
        ModuleInfo(
            name=f"{info.name}-onnx",
            version=info.version,
            task=info.task,
            summary=f"{info.summary} (ONNX)",
            entry=ONNX_ENTRY,
            finehub=f">={__version__},<1",
            tags=(*info.tags, "onnx"),
            inputs={"inputs": "as the original module"},
            outputs=dict(info.outputs),
            requirements=("onnxruntime>=1.16", "tokenizers>=0.15"),
            assets=tuple(Asset(path=p.name, sha256=sha256_file(p), size=p.stat().st_size) for p in files),
            config={
                "onnx": settings,
                "source": {
                    "name": info.name,
                    "version": info.version,
                    "finetuned": dict(info.config.get("finetuned") or {}),
                },
            },
        ),
    )


def _parity(module: ModuleBase, runtime: Any, graph: _Graph, inputs: Sequence[Any]) -> Parity:
    import numpy as np
    import torch

    diff = 0.0
    for start in range(0, len(inputs), 8):
        feeds = runtime.feeds(inputs[start : start + 8])
        with torch.inference_mode():
            expected = (
                graph.net.eval()(*(torch.from_numpy(feeds[n]) for n in graph.spec.inputs)).float().numpy()
            )
        got = runtime.raw_outputs(feeds)
        diff = max(diff, float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf"))
    agreement = _agreement(graph.spec, module.predict(list(inputs)), runtime.predict(list(inputs)))
    return Parity(len(inputs), diff, agreement)


class _FromOnnxruntime(logging.Filter):
    """Drops the records onnxruntime's quantiser logs straight on the root logger (advice and
    per-tensor notes), below ERROR; every other record and the root logger's level are untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or f"{Path('onnxruntime')}" not in record.pathname


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    root, quiet = logging.getLogger(), _FromOnnxruntime()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _quantize(
    module: ModuleBase,
    folder: Path,
    graph: _Graph,
    tmp: Path,
    inputs: Sequence[Any],
    examples: Sequence[Any],
    label_names: Sequence[str],
    *,
    opset: int,
) -> Quantization:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from finehub.modules.onnx_runtime import MODEL_FILE, OnnxModule

    checked = [graph.spec.sample(e) for e in examples] or list(inputs)
    before = OnnxModule(directory=tmp).predict(checked)
    int8_model = tmp.parent / f"{tmp.name}.int8.onnx"
    float_bytes = (tmp / MODEL_FILE).stat().st_size
    try:
        with warnings.catch_warnings(), _quiet_quantiser():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(tmp / MODEL_FILE), str(int8_model), weight_type=QuantType.QInt8)
        after = _write(
            module, folder, graph, tmp, inputs, opset=opset, quantized="int8", model=int8_model
        ).predict(checked)
    finally:
        int8_model.unlink(missing_ok=True)
    metric = float_value = int8_value = None
    if examples:
        metric, float_value = graph.spec.score(before, examples, label_names)
        _, int8_value = graph.spec.score(after, examples, label_names)
    result = Quantization(
        metric,
        float_value,
        int8_value,
        len(examples),
        _agreement(graph.spec, before, after),
        float_bytes,
        (tmp / MODEL_FILE).stat().st_size,
    )
    log.info("int8 quantisation: %s", result)
    return result
