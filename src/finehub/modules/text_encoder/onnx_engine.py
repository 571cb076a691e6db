"""The encoder run by onnxruntime in fp32: ``embed``'s engine for ``precision="onnx"``.

The same graph in onnxruntime (one call per batch, bias+GELU and residual+LayerNorm fused) gives
the same fp32 numbers without torch's per-operator dispatch. The graph is traced once per model folder and library versions, kept in
``FINEHUB_HOME/cache/onnx-encoders/<key>/model.onnx`` (written atomically), and checked against
the torch encoder before use: :func:`load` returns None, and the module keeps torch, when the
per-text cosine falls below ``PARITY``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PARITY = 0.999  # lowest cosine per text, onnxruntime vs torch fp32, to use the graph
# varied lengths, so that the traced graph keeps its attention mask and the check covers padding
PROBE = (
    "A short one.",
    "The committee will publish its findings on the proposed railway line early next year, "
    "after hearing from residents, businesses and the regional transport authority.",
    "Markets rose as investors welcomed the news.",
    "你好，世界",
)


class OnnxEncoder:
    """``session`` computing the encoder's last hidden state from the tokenizer's arrays."""

    def __init__(self, session: Any, inputs: list[str], path: Path) -> None:
        self.session, self.inputs, self.path = session, inputs, path

    def last_hidden_state(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        import torch

        feeds = {name: enc[name].numpy() for name in self.inputs}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def load(model: torch.nn.Module, tokenizer: Any, source_dir: Path, threads: int) -> OnnxEncoder | None:
    """The cached (or newly traced) graph of ``model`` in a session on ``threads`` threads, or None
    when onnxruntime is missing or the graph's output strays from torch's (both logged)."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime is not installed; embedding with torch fp32")
        return None
    inputs = [
        n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    path = _cached_graph(model, tokenizer, source_dir, inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    engine = OnnxEncoder(session, inputs, path)
    worst = _parity(model, tokenizer, engine)
    if worst < PARITY:
        log.warning(
            "onnxruntime encoder %s: cosine %.5f to torch < %s; embedding with torch fp32",
            path,
            worst,
            PARITY,
        )
        return None
    return engine


def _cached_graph(model: torch.nn.Module, tokenizer: Any, source_dir: Path, inputs: list[str]) -> Path:
    from finehub._utils.paths import cache_dir

    folder = cache_dir() / "onnx-encoders" / _key(source_dir)
    path = folder / "model.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".trace-") as tmp:
        traced = Path(tmp) / "model.onnx"
        _trace(model, tokenizer, inputs, traced)
        _fuse(traced)
        os.replace(traced, path)
    log.info("traced the encoder of %s to %s", source_dir, path)
    return path


def _key(source_dir: Path) -> str:
    """The model folder's files (names, sizes, modification times) and the exporting libraries."""
    from importlib.metadata import version

    parts = [str(source_dir.resolve())]
    for f in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        stat = f.stat()
        parts.append(f"{f.relative_to(source_dir)}:{stat.st_size}:{stat.st_mtime_ns}")
    parts += [f"{pkg}=={version(pkg)}" for pkg in ("torch", "transformers", "onnxruntime")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _trace(model: torch.nn.Module, tokenizer: Any, inputs: list[str], out: Path) -> None:
    """``model``'s last hidden state as ONNX (dynamic batch and length), traced on a copy: tracing
    leaves state behind in a transformers model."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, *arrays: torch.Tensor) -> torch.Tensor:
            return self.net(**dict(zip(inputs, arrays, strict=True))).last_hidden_state

    enc = tokenizer(list(PROBE[:2]), padding=True, return_tensors="pt")
    net = Hidden(copy.deepcopy(model).float().cpu().eval())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            net,
            tuple(enc[n] for n in inputs),
            str(out),
            dynamo=False,
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*inputs, "last_hidden_state"]},
            opset_version=17,
        )


def _fuse(path: Path) -> None:
    """onnxruntime's transformer fusions (bias+GELU, residual+LayerNorm), in place, where its
    optimizer is installed; the parity check judges the result."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimize_model(
            str(path), model_type="bert", num_heads=0, hidden_size=0, opt_level=1
        ).save_model_to_file(str(path))


def _parity(model: torch.nn.Module, tokenizer: Any, engine: OnnxEncoder) -> float:
    """The lowest cosine between torch's and the graph's hidden state of any real token of
    :data:`PROBE` (one padded batch): whatever the pooling, its inputs agree."""
    import torch
    import torch.nn.functional as F

    enc = tokenizer(list(PROBE), padding=True, return_tensors="pt")
    with torch.inference_mode():
        ours = engine.last_hidden_state(enc)
        device = next(model.parameters()).device
        reference = model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state.float().cpu()
    return float(F.cosine_similarity(ours, reference, dim=-1)[enc["attention_mask"].bool()].min())
