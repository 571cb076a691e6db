"""What every module exported by fine-tuning shares: reading its folder, validating text inputs,
batching texts through a network, and turning outputs into result dicts.

An exported folder (written by :mod:`finehub.finetune.export`)::

    module.json          ModuleInfo; ``config`` holds what rebuilds the network (``config_keys``)
    model.safetensors    the network's state dict (``encoder.*``, ``head.*``, ``crf.*``...)
    config.json          text models: the encoder's transformers config
    tokenizer.json ...   text models: the tokenizer, added vocabulary included

Loading needs torch (and transformers for text) but no training code. The fine-tuning tasks'
``predict`` use the same helpers, so a task and its exported module answer identically.

Each exported module class also says how its ONNX export answers (``onnx_feeds`` and
``onnx_predict``, given an :class:`~finehub.modules.onnx_runtime.OnnxModule` as ``runtime``): the
post-processing is the class's own, so the PyTorch and onnxruntime paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from finehub.errors import InvalidManifestError, ModuleInputError
from finehub.hub.module import ModuleBase, ModuleInfo
from finehub.modules._common import check_batch_size

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from finehub.nn.backbone import TextBackbone

WEIGHTS = "model.safetensors"
ENCODER_KEYS = ("max_seq_len", "hidden_size", "pooling")

TextInput = str | Sequence[str]  # a text, or a pair [text_a, text_b]
Batch = tuple[Sequence[int], dict[str, "torch.Tensor"]]  # (input indices, network inputs)
Batches = list[Batch]


# --- inputs ------------------------------------------------------------------------------------


def check_texts(texts: Any) -> list[str | tuple[str, str]]:
    """Validated inputs: a list of non-empty texts or of [text_a, text_b] pairs (a lone text is wrapped)."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or not texts:
        raise ModuleInputError("texts", "pass a non-empty list of strings (or of [text_a, text_b] pairs)")
    out: list[str | tuple[str, str]] = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            if not t.strip():
                raise ModuleInputError(f"texts[{i}]", "is empty; pass text to classify")
            out.append(t)
        elif isinstance(t, Sequence) and len(t) == 2 and all(isinstance(x, str) for x in t):
            out.append((t[0], t[1]))
        else:
            raise ModuleInputError(
                f"texts[{i}]", f"expected a non-empty string or a [text_a, text_b] pair, got {t!r}"
            )
    return out


def text_batches(
    tokenizer: Any, texts: Sequence[str | tuple[str, str]], *, max_seq_len: int, batch_size: int
) -> Batches:
    """Tokenised batches, longest texts first, each padded to its own longest text."""

    def size(i: int) -> int:
        t = texts[i]
        return len(t) if isinstance(t, str) else len(t[0]) + len(t[1])

    order = sorted(range(len(texts)), key=lambda i: -size(i))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [texts[i] for i in idx]
        if any(isinstance(t, tuple) for t in batch):
            pairs = [t if isinstance(t, tuple) else (t, "") for t in batch]
            enc = tokenizer(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                truncation="longest_first",
                max_length=max_seq_len,
                padding=True,
                return_tensors="pt",
            )
        else:
            enc = tokenizer(
                list(batch), truncation=True, max_length=max_seq_len, padding=True, return_tensors="pt"
            )
        batches.append(
            (idx, {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
        )
    return batches


# --- running a network ------------------------------------------------------------------------


def run_batches(
    net: torch.nn.Module, batches: Iterable[Batch], n: int, *, forward: Callable[..., Any] | None = None
) -> list[Any]:
    """Per input, the network's output row (numpy), running ``(indices, inputs)`` batches in
    inference mode through ``forward`` (default: ``net`` itself, e.g. a method of it instead);
    the network's train/eval mode is restored afterwards."""
    import torch

    forward = forward or net
    device = next(net.parameters()).device
    rows: list[Any] = [None] * n
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for idx, inputs in batches:
                out = forward(**{k: v.to(device) for k, v in inputs.items()}).float().cpu().numpy()
                for r, i in enumerate(idx):
                    rows[i] = out[r]
    finally:
        net.train(was_training)
    return rows


def text_rows(
    net: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str | tuple[str, str]],
    *,
    max_seq_len: int,
    batch_size: int,
) -> np.ndarray:
    """The network's output rows for ``texts``, stacked in input order."""
    import numpy as np

    batches = text_batches(tokenizer, texts, max_seq_len=max_seq_len, batch_size=check_batch_size(batch_size))
    return np.stack(run_batches(net, batches, len(texts)))


# --- outputs -----------------------------------------------------------------------------------


def softmax(x: np.ndarray) -> np.ndarray:
    import numpy as np

    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def format_predictions(
    probs: np.ndarray, label_names: Sequence[str], top_k: int | None = None
) -> list[dict[str, Any]]:
    """``[{"label", "score", "probabilities": {label: p}}]``; with ``top_k``, only the k most
    probable labels are listed in ``probabilities`` (most probable first)."""
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ModuleInputError("top_k", f"must be a positive integer or None, got {top_k!r}")
    out = []
    for row in probs:
        ranked = sorted(range(len(row)), key=lambda c: -row[c])
        shown = ranked[:top_k] if top_k else range(len(row))
        out.append(
            {
                "label": label_names[ranked[0]],
                "score": float(row[ranked[0]]),
                "probabilities": {label_names[c]: float(row[c]) for c in shown},
            }
        )
    return out


# --- loading an exported folder ------------------------------------------------------------------


def import_named(entry: str, *, prefix: str, what: str, where: str) -> Any:
    """The ``"package.module:Attr"`` an exported folder's manifest names, when it lies under
    ``prefix`` (folders name only finehub's own code); InvalidManifestError naming ``where`` else."""
    import importlib

    target, _, attr = entry.partition(":")
    if not target.startswith(prefix) or not attr:
        raise InvalidManifestError(where, f"{what} {entry!r} must name a class in {prefix}*")
    try:
        return getattr(importlib.import_module(target), attr)
    except (ImportError, AttributeError) as e:
        raise InvalidManifestError(where, f"cannot import {what} {entry!r}: {e}") from e


class FinetunedModule(ModuleBase):
    """Base of the exported modules: per-instance metadata read from ``module.json``, whose
    ``config`` must hold ``config_keys``. Subclasses build their network in ``__init__``."""

    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, directory: str | Path | None = None, **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.store import MANIFEST, read_manifest

        if self.directory is None:
            raise InvalidManifestError(
                self.info.name, "needs the folder of an exported model (directory=...)"
            )
        info = read_manifest(self.directory)
        missing = [k for k in self.required_config() if k not in info.config]
        if missing:
            raise InvalidManifestError(
                str(self.directory / MANIFEST), f"config lacks {missing}; export the model again with finehub"
            )
        self.info = info  # type: ignore[misc]  # per-instance metadata
        self.config: dict[str, Any] = dict(info.config)

    @classmethod
    def required_config(cls) -> tuple[str, ...]:
        return cls.config_keys

    @property
    def label_names(self) -> list[str]:
        return list(self.config.get("label_names", []))


class FinetunedTextModule(FinetunedModule):
    """An exported text model: rebuilds the network from the encoder config, loads the weights and
    the tokenizer. Subclasses name their extra ``config_keys`` and build the network."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        self.net, self.tokenizer = load_text_network(self.directory, self.info, self.build_network)  # type: ignore[arg-type]
        self.net.to(device)

    @classmethod
    def required_config(cls) -> tuple[str, ...]:
        return (*ENCODER_KEYS, *cls.config_keys)

    @classmethod
    def build_network(cls, encoder: nn.Module, config: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def rows(self, texts: Sequence[str | tuple[str, str]], batch_size: int) -> np.ndarray:
        """The network's output rows for validated texts."""
        return text_rows(
            self.net, self.tokenizer, texts, max_seq_len=self.config["max_seq_len"], batch_size=batch_size
        )

    @classmethod
    def onnx_feeds(cls, runtime: Any, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        """The graph's input arrays for one batch of raw inputs."""
        return runtime.text_feeds(check_texts(list(inputs)))[0]

    @staticmethod
    def onnx_rows(runtime: Any, texts: Sequence[Any], batch_size: int) -> np.ndarray:
        """The ONNX graph's output rows for validated texts."""
        import numpy as np

        return np.stack(
            runtime.batched(texts, batch_size, lambda b: runtime.raw_outputs(runtime.text_feeds(b)[0]))
        )

    def backbone(self) -> TextBackbone:
        """The fine-tuned encoder, so an exported model can be fine-tuned further."""
        from finehub.nn.backbone import TextBackbone

        cfg = self.config
        return TextBackbone(
            self.net.encoder,
            self.tokenizer,
            cfg["hidden_size"],
            cfg["pooling"],
            self.directory,
            cfg["max_seq_len"],
        )


def pooled_net_options(config: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that rebuild an exported pooled-head net: no dropout at inference, the
    head's hidden layer (none in exports from before it existed) and, for classifiers trained on
    cached features, the feature standardisation."""
    options = {
        "pooling": config["pooling"],
        "dropout": 0.0,
        "head_hidden_size": config.get("head_hidden_size", 0),
    }
    return {**options, "standardize": True} if config.get("standardize_features") else options


def load_text_network(
    folder: Path, info: ModuleInfo, build: Callable[[torch.nn.Module, dict[str, Any]], torch.nn.Module]
) -> tuple[torch.nn.Module, Any]:
    """``build(encoder, config)`` with the folder's weights loaded, and the folder's tokenizer."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from finehub.hub.weights import load_state_dict
    from finehub.nn.lac import register_with_transformers

    register_with_transformers()  # encoders fine-tuned from the lac module have model type "finehub-lac"
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder))
    net = build(encoder, dict(info.config))
    missing, unexpected = net.load_state_dict(load_state_dict(folder / WEIGHTS), strict=False)
    missing = [k for k in missing if not k.startswith("encoder.pooler.")]  # an unused pooler may be left out
    if missing or unexpected:
        raise InvalidManifestError(
            str(folder / WEIGHTS),
            f"weights do not match the network (missing {missing[:5]}, unexpected {unexpected[:5]})",
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if len(tokenizer) > encoder.get_input_embeddings().weight.shape[0]:
        raise InvalidManifestError(
            str(folder), "the tokenizer has more tokens than the encoder has embeddings"
        )
    return net.eval(), tokenizer
