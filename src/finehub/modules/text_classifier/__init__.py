"""The module class a fine-tuned text classifier loads as, from its exported folder.

Folder layout (written by ``finehub.finetune.export``)::

    module.json          ModuleInfo; ``config`` holds num_classes, label_names, pooling,
                         max_seq_len, hidden_size (+ provenance: base module, dataset, metrics)
    model.safetensors    the TextClassifierNet state dict (``encoder.*``, ``head.*``)
    config.json          the encoder's transformers config (vocabulary size included)
    tokenizer.json ...   the tokenizer, added vocabulary included

Loading needs transformers and torch but no training code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import InvalidManifestError, ModuleInputError
from finehub.hub.module import ModuleBase, ModuleInfo, moduleinfo, runnable, serving

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.modules.text_classifier.network import TextClassifierNet
    from finehub.nn.backbone import TextBackbone

ENTRY = "finehub.modules.text_classifier:TextClassifier"
CONFIG_KEYS = ("num_classes", "label_names", "pooling", "max_seq_len", "hidden_size")
WEIGHTS = "model.safetensors"

TextInput = str | Sequence[str]  # a text, or a pair [text_a, text_b]


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


def predict_proba(
    net: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str | tuple[str, str]],
    *,
    max_seq_len: int,
    batch_size: int = 32,
) -> np.ndarray:
    """Class probabilities, shape (len(texts), num_classes)."""
    import numpy as np

    batches = text_batches(tokenizer, texts, max_seq_len=max_seq_len, batch_size=batch_size)
    return softmax(np.stack(run_batches(net, batches, len(texts))))


def run_batches(
    net: torch.nn.Module, batches: Sequence[tuple[list[int], dict[str, torch.Tensor]]], n: int
) -> list[Any]:
    """Per input, the network's output row (numpy), running ``(indices, inputs)`` batches in
    inference mode; the network's train/eval mode is restored afterwards."""
    import torch

    device = next(net.parameters()).device
    rows: list[Any] = [None] * n
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for idx, inputs in batches:
                out = net(**{k: v.to(device) for k, v in inputs.items()}).float().cpu().numpy()
                for r, i in enumerate(idx):
                    rows[i] = out[r]
    finally:
        net.train(was_training)
    return rows


def text_batches(
    tokenizer: Any, texts: Sequence[str | tuple[str, str]], *, max_seq_len: int, batch_size: int
) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
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


def softmax(x: np.ndarray) -> np.ndarray:
    import numpy as np

    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def format_predictions(
    probs: np.ndarray, label_names: Sequence[str], top_k: int | None = None
) -> list[dict[str, Any]]:
    """``[{"label", "score", "probabilities": {label: p}}]``; with ``top_k``, only the k most
    probable labels are listed in ``probabilities`` (most probable first)."""
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
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


def read_manifest(folder: Path) -> ModuleInfo:
    """The folder's metadata, with the ``config`` keys this class needs."""
    from finehub.hub.store import MANIFEST
    from finehub.hub.store import read_manifest as read_module_json

    info = read_module_json(folder)
    missing = [k for k in CONFIG_KEYS if k not in info.config]
    if missing:
        raise InvalidManifestError(
            str(folder / MANIFEST), f"config lacks {missing}; export the model again with finehub"
        )
    return info


def load_network(folder: Path, info: ModuleInfo) -> tuple[TextClassifierNet, Any]:
    """The network with its fine-tuned weights, and its tokenizer, rebuilt from an exported folder."""
    from finehub.modules.text_classifier.network import TextClassifierNet

    def build(encoder: Any, cfg: dict[str, Any]) -> TextClassifierNet:
        return TextClassifierNet(
            encoder, cfg["hidden_size"], cfg["num_classes"], pooling=cfg["pooling"], dropout=0.0
        )

    return load_text_network(folder, info, build)


def load_text_network(
    folder: Path, info: ModuleInfo, build: Callable[[torch.nn.Module, dict[str, Any]], torch.nn.Module]
) -> tuple[torch.nn.Module, Any]:
    """``build(encoder, config)`` with the folder's weights loaded, and the folder's tokenizer."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from finehub.hub.weights import load_state_dict

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


@moduleinfo(
    name="text-classifier",
    version="1.0.0",
    task="text-classification",
    summary="A text classifier fine-tuned with finehub, loaded from its exported folder.",
    inputs={"texts": "list of texts, or of [text_a, text_b] pairs"},
    outputs={"label": "best label", "score": "its probability", "probabilities": "label -> probability"},
)
class TextClassifier(ModuleBase):
    """Generic class of exported classifiers; each instance takes its metadata from ``module.json``."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        if self.directory is None:
            raise InvalidManifestError(
                "text-classifier", "needs the folder of an exported model (directory=...)"
            )
        self.info = read_manifest(self.directory)  # type: ignore[misc]  # per-instance metadata
        self.net, self.tokenizer = load_network(self.directory, self.info)
        self.net.to(device)

    @property
    def label_names(self) -> list[str]:
        return list(self.info.config["label_names"])

    @runnable
    @serving(batch="texts")
    def classify(
        self, texts: list[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """Label, score and probabilities for each text."""
        probs = predict_proba(
            self.net,
            self.tokenizer,
            check_texts(texts),
            max_seq_len=self.info.config["max_seq_len"],
            batch_size=batch_size,
        )
        return format_predictions(probs, self.label_names, top_k)

    def backbone(self) -> TextBackbone:
        """The fine-tuned encoder, so an exported classifier can be fine-tuned further."""
        from finehub.nn.backbone import TextBackbone

        cfg = self.info.config
        return TextBackbone(
            self.net.encoder,
            self.tokenizer,
            cfg["hidden_size"],
            cfg["pooling"],
            self.directory,
            cfg["max_seq_len"],
        )
