"""A sentence encoder over any Hugging Face model folder: tokenizer + encoder + pooling + L2 norm."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from finehub.errors import ConfigError, DataFormatError, ModuleInputError
from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
from finehub.modules._common import (
    BUILT_IN_FINEHUB,
    BatchSize,
    TextData,
    UseGpu,
    check_batch_size,
    honour_use_gpu,
    paddle_texts,
)
from finehub.nn.device import bf16_supported, pick_device

if TYPE_CHECKING:
    import numpy as np

    from finehub.modules.text_encoder.onnx_engine import OnnxEncoder
    from finehub.nn.backbone import TextBackbone

log = logging.getLogger(__name__)

_POOLING_FILE = "1_Pooling/config.json"  # sentence-transformers' pooling config, when present
_ST_CONFIG_FILE = "sentence_bert_config.json"  # sentence-transformers' max_seq_length, when present
_HEAD_CHARS_PER_TOKEN = 16  # first guess of the characters a token covers (English: about 4)


@moduleinfo(
    name="text-encoder",
    version="1.0.0",
    task="text-embedding",
    summary="Sentence embeddings from any Hugging Face encoder folder (mean or CLS pooling, L2-normalised).",
    license="Apache-2.0",
    tags=("text", "embedding", "sentence-similarity"),
    inputs={"texts": "list of strings (or one string)"},
    outputs={"embed": "float32 array N×D", "similarity": "cosine similarity: a float, or a matrix for lists"},
    finehub=BUILT_IN_FINEHUB,
)
class TextEncoder(ModuleBase):
    """Embeds texts with a transformers encoder read from a local folder (``directory``).

    Init args: ``pooling`` ("mean" or "cls"), ``max_seq_len`` (default token limit), ``device``,
    ``precision``. The first two fall back to ``info.config``, then to the folder's
    sentence-transformers files (``1_Pooling/config.json``, ``sentence_bert_config.json``), then to
    mean pooling and the model's own position limit.

    ``precision`` is that of ``embed``: "auto" (the default) runs a bfloat16 copy of the encoder
    where the CPU or GPU has native bf16 matmuls (about 3× faster on an AVX512-BF16 CPU, cosine
    above 0.9999 to fp32) and fp32 elsewhere; "fp32" and "bf16" force one, in torch. ``self.model``
    stays fp32 either way, so ``backbone()`` hands fine-tuning the full-precision weights.

    ``engine`` says what runs ``embed``: "torch", or, for "onnx" on a CPU, "onnxruntime": the same
    fp32 encoder traced to ONNX once (cached under ``FINEHUB_HOME``), used from the first ``embed``
    on when it matches torch (cosine >= 0.999 per token; else ``engine`` turns back to "torch"
    with a warning). Each choice is logged. "auto" does not pick it: on a 2-core AVX2 CPU it
    measured no faster than torch fp32 for sentence batches, and its first call traces the graph.
    """

    model_args: ClassVar[dict[str, Any]] = {}  # keyword arguments of the model class (subclasses)

    def __init__(
        self,
        *,
        directory: str | Path | None = None,
        pooling: str | None = None,
        max_seq_len: int | None = None,
        device: str | None = None,
        precision: str = "auto",
        **init_args: Any,
    ) -> None:
        super().__init__(directory=directory, **init_args)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.source_dir = self.model_dir()
        self.device = pick_device(device)
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a library does not draw on the user's terminal
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.source_dir, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.source_dir, local_files_only=True, **self.model_args)
        except (OSError, ValueError) as e:
            raise DataFormatError(
                str(self.source_dir),
                f"not a loadable Hugging Face model folder ({e.__class__.__name__}: {e})",
            ) from e
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self.model.eval().to(self.device)
        self._check_vocab()
        self.requested_precision = precision
        self.precision = self._choose_precision(precision)
        self._runtime = self.model if self.precision == "fp32" else _bf16_copy(self.model)
        self._onnx: OnnxEncoder | None = None
        self.engine = self._choose_engine()
        self.pooling = self._choose_pooling(pooling)
        cfg = self.model.config
        self.dim: int = getattr(cfg, "hidden_size", None) or self.model.get_input_embeddings().embedding_dim
        self._seq_limit = min(self.tokenizer.model_max_length, getattr(cfg, "max_position_embeddings", 512))
        if max_seq_len is None:
            max_seq_len = self.info.config.get("max_seq_len") or self._st_config().get("max_seq_length")
        self.max_seq_len = self._checked_seq_len(max_seq_len or self._seq_limit, field="max_seq_len")

    def model_dir(self) -> Path:
        """The Hugging Face folder to load; subclasses may locate a bundled one."""
        if self.directory is None:
            raise ConfigError(
                "directory", "a TextEncoder needs a Hugging Face model folder; pass directory='path/to/model'"
            )
        return self.directory

    def to_device(self, device: str) -> None:
        """Move the encoder, choosing the precision again for the new device (PaddleHub's
        ``use_gpu=True`` calls this with "cuda")."""
        self.device = pick_device(device)
        self.model.to(self.device)
        self.precision = self._choose_precision(self.requested_precision)
        self._runtime = self.model if self.precision == "fp32" else _bf16_copy(self.model)
        self.engine = self._choose_engine()

    @runnable
    @serving(batch="texts")
    def embed(
        self,
        texts: str | Sequence[str] | None = None,
        batch_size: BatchSize = 32,
        max_seq_len: int | None = None,
        normalize: bool = True,
        *,
        data: TextData = None,
        use_gpu: UseGpu = False,
    ) -> np.ndarray:
        """Float32 N×D embeddings, one row per text, in input order (unit length when ``normalize``).

        Texts longer than ``max_seq_len`` tokens (default: the module's) are truncated. Returns a
        numpy array; JSON front ends (CLI, HTTP) turn it into lists with ``.tolist()``.
        """
        import numpy as np
        import torch
        import torch.nn.functional as F

        from finehub.nn.pooling import pool_tokens

        texts = paddle_texts(texts, data)
        seq_len = self._checked_seq_len(
            self.max_seq_len if max_seq_len is None else max_seq_len, field="max_seq_len"
        )
        items = [self._head(text, seq_len) for text in _as_texts(texts, "texts" if data is None else "data")]
        check_batch_size(batch_size)
        honour_use_gpu(self, use_gpu)
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))  # similar lengths share a batch
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = self.tokenizer(
                    [items[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=seq_len,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._hidden(enc)
                vectors = pool_tokens(hidden, enc["attention_mask"], self.pooling)
                if normalize:
                    vectors = F.normalize(vectors, dim=-1)
                out[idx] = vectors.cpu().numpy()
        return out

    def _hidden(self, enc: Any) -> Any:
        """The last hidden state (float32) from the chosen engine; the ONNX one made on first use."""
        if self.engine == "onnxruntime" and self._onnx is None:
            import torch

            from finehub.modules.text_encoder import onnx_engine

            self._onnx = onnx_engine.load(
                self.model, self.tokenizer, self.source_dir, torch.get_num_threads()
            )
            if self._onnx is None:
                self.engine = "torch"
            log.info("%s: embedding with %s %s", self.info.name, self.engine, self.precision)
        if self._onnx is not None and self.engine == "onnxruntime":
            return self._onnx.last_hidden_state(enc)
        return self._runtime(**enc).last_hidden_state.float()

    @serving
    def similarity(
        self,
        a: str | Sequence[str],
        b: str | Sequence[str],
        *,
        batch_size: BatchSize = 32,
        use_gpu: UseGpu = False,
    ) -> float | list[list[float]]:
        """Cosine similarity: a float for two strings, else a len(a)×len(b) matrix (nested lists)."""
        left, right = _as_texts(a, "a"), _as_texts(b, "b")
        vectors = self.embed([*left, *right], batch_size=batch_size, normalize=True, use_gpu=use_gpu)
        matrix = vectors[: len(left)] @ vectors[len(left) :].T
        if isinstance(a, str) and isinstance(b, str):
            return float(matrix[0, 0])
        return matrix.astype(float).tolist()

    def _head(self, text: str, seq_len: int) -> str:
        """The start of ``text`` that tokenizes to the same first ``seq_len`` tokens as all of it.

        A tokenizer reads the whole text even when only its first tokens are kept (a megabyte takes
        about a second), so one long text would hold up every request batched or queued behind it.
        Tokenizers split text into words first and tokenize each word on its own, so a prefix is
        enough once every kept token comes from a word before the prefix's last (possibly cut)
        word. The prefix grows 4× until that holds; at worst it is the whole text.
        """
        keep = max(1, seq_len - self.tokenizer.num_special_tokens_to_add())
        size = _HEAD_CHARS_PER_TOKEN * seq_len
        while size < len(text) and self.tokenizer.is_fast:
            words = self.tokenizer(text[:size], add_special_tokens=False, verbose=False).word_ids()
            last_kept, last = (words[keep - 1], words[-1]) if len(words) > keep else (None, None)
            if last_kept is not None and last is not None and last_kept < last:
                return text[:size]
            size *= 4
        return text

    def backbone(self) -> TextBackbone:
        """A trainable copy of the encoder, with its tokenizer, pooling and source folder."""
        from finehub.nn.backbone import TextBackbone

        return TextBackbone(
            model=copy.deepcopy(self.model).train(),
            tokenizer=self.tokenizer,
            hidden_size=self.dim,
            pooling=self.pooling,  # type: ignore[arg-type]
            source_dir=self.source_dir,
            max_seq_len=self.max_seq_len,
        )

    def _check_vocab(self) -> None:
        """Catch a tokenizer that does not belong to the model (e.g. a few-token vocab built from
        partial files): every token id must have an embedding row, and the vocabularies must agree."""
        n_tokens = len(self.tokenizer)
        rows = self.model.get_input_embeddings().num_embeddings
        declared = getattr(self.model.config, "vocab_size", rows)
        if n_tokens in (declared, rows):
            return
        if n_tokens > rows or n_tokens < rows // 2:
            raise DataFormatError(
                str(self.source_dir),
                f"the tokenizer has {n_tokens} tokens but the model has {rows} embedding rows "
                f"(config vocab_size={declared}); the tokenizer files do not belong to this model. "
                "Copy tokenizer.json / vocab files from the model's original repository.",
            )
        log.info(
            "%s: tokenizer has %d tokens, embedding %d rows (padded vocab)", self.source_dir, n_tokens, rows
        )

    def _choose_precision(self, precision: str) -> str:
        if precision not in ("auto", "fp32", "bf16", "onnx"):
            raise ConfigError("precision", f"must be one of auto, fp32, bf16, onnx, got {precision!r}")
        if precision == "auto":
            return "bf16" if bf16_supported(self.device) else "fp32"
        return "fp32" if precision == "onnx" else precision

    def _choose_engine(self) -> str:
        """onnxruntime for "onnx" on a CPU (see the class docstring), else torch."""
        engine = (
            "onnxruntime" if self.requested_precision == "onnx" and self.device.type == "cpu" else "torch"
        )
        log.info("%s: embed runs on %s in %s", self.info.name, engine, self.precision)
        return engine

    def _choose_pooling(self, pooling: str | None) -> str:
        from finehub.nn.pooling import POOLINGS

        chosen = pooling or self.info.config.get("pooling") or self._pooling_from_folder()
        if chosen not in POOLINGS:
            raise ConfigError("pooling", f"must be one of {', '.join(POOLINGS)}, got {chosen!r}")
        return chosen

    def _pooling_from_folder(self) -> str:
        cfg = _read_json(self.source_dir / _POOLING_FILE)
        return "cls" if cfg.get("pooling_mode_cls_token") else "mean"

    def _st_config(self) -> dict[str, Any]:
        return _read_json(self.source_dir / _ST_CONFIG_FILE)

    def _checked_seq_len(self, value: Any, *, field: str) -> int:
        if not isinstance(value, int) or not 1 <= value <= self._seq_limit:
            raise ModuleInputError(
                field, f"must be an integer from 1 to {self._seq_limit} (the model's limit), got {value!r}"
            )
        return value


def _as_texts(texts: Any, field: str) -> list[str]:
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)):
        raise ModuleInputError(field, f"expected a string or a list of strings, got {type(texts).__name__}")
    if len(items) == 0:
        raise ModuleInputError(field, "no texts given")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ModuleInputError(f"{field}[{i}]", f"expected a string, got {type(item).__name__}")
    return list(items)


def _bf16_copy(model: Any) -> Any:
    import torch

    return copy.deepcopy(model).to(torch.bfloat16)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(str(path), f"invalid JSON: {e.msg}", line=e.lineno) from e
    return data if isinstance(data, dict) else {}
