"""Run an exported ONNX model with onnxruntime alone: no torch, no transformers.

Written by ``finehub export onnx`` (:mod:`finehub.finetune.onnx_export`)::

    module.json      ModuleInfo; ``config["onnx"]`` says what the graph is (``kind``), which module
                     class answers for it (``module``, e.g. "finehub.modules.text_classifier:TextClassifier"),
                     its input and output names, and the pre- and post-processing settings (labels,
                     max_seq_len, image size, mean/std, CRF scores...)
    model.onnx       the graph (int8 weights when exported with --quantize int8)
    tokenizer.json   text models: the tokenizer, read by the ``tokenizers`` library

The answering class is the exported PyTorch module's own (its ``onnx_feeds``/``onnx_predict``), so
results have the same shape as the module the model was exported from; importing it costs no torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.lazy import require
from finehub.errors import InvalidManifestError, ModuleInputError
from finehub.hub.module import moduleinfo, runnable, serving
from finehub.modules._common import check_batch_size
from finehub.modules.finetuned import FinetunedModule, import_named

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ANSWERING_PREFIX = "finehub.modules."  # only finehub's own module classes answer for a graph


@moduleinfo(
    name="onnx-model",
    version="1.0.0",
    task="onnx",
    summary="A fine-tuned finehub model exported to ONNX, run with onnxruntime only.",
    inputs={"inputs": "what the original module took: texts, [text_a, text_b] pairs, token lists or images"},
    outputs={"results": "the same result dicts as the original module"},
    requirements=("onnxruntime>=1.16", "tokenizers>=0.15"),
)
class OnnxModule(FinetunedModule):
    """Init args: ``num_threads`` (onnxruntime intra-op threads; default: onnxruntime's choice)."""

    config_keys = ("onnx",)

    def __init__(
        self, *, directory: str | Path | None = None, num_threads: int | None = None, **init_args: Any
    ) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.store import MANIFEST

        spec = self.config["onnx"]
        where = str(self.directory / MANIFEST)
        if not isinstance(spec, dict) or not isinstance(spec.get("module"), str):
            raise InvalidManifestError(
                where, "config.onnx.module must name the class that answers; export again"
            )
        self.spec: dict[str, Any] = spec
        self.kind: str = str(spec.get("kind", ""))
        self.answering = answering_class(spec["module"], where=where)
        self.num_threads = num_threads
        self._session: Any = None
        has_tokenizer = (self.directory / TOKENIZER_FILE).is_file()
        self.tokenizer = self._tokenizer() if has_tokenizer else None

    @property
    def session(self) -> Any:
        """The onnxruntime session, opened on first use."""
        if self._session is None:
            ort = require("onnxruntime", extra="export", feature="Running ONNX models")
            options = ort.SessionOptions()
            if self.num_threads:
                options.intra_op_num_threads = self.num_threads
            self._session = ort.InferenceSession(
                str(self.directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def _tokenizer(self) -> Any:
        tokenizers = require("tokenizers", extra="export", feature="Tokenising text for ONNX models")
        tok = tokenizers.Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        tok.enable_truncation(self.spec["max_seq_len"])
        tok.enable_padding(pad_id=self.spec["pad_id"], pad_token=self.spec["pad_token"])
        return tok

    # --- the one entry point -------------------------------------------------------------------

    @runnable
    @serving(batch="inputs")
    def predict(  # type: ignore[override]
        self,
        inputs: Any,
        top_k: int | None = None,
        threshold: float | None = None,
        batch_size: int = 32,
    ) -> list[Any]:
        """Results for ``inputs`` as the original module gives them; ``top_k`` applies to
        classifiers (single-label, text or image), ``threshold`` to multi-label models."""
        check_batch_size(batch_size)
        options = {k: v for k, v in (("top_k", top_k), ("threshold", threshold)) if v is not None}
        allowed = [
            p.name
            for p in inspect.signature(self.answering.onnx_predict).parameters.values()
            if p.kind is p.KEYWORD_ONLY
        ]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ModuleInputError(
                unknown[0], f"is not an option of a {self.kind} model (options: {allowed or 'none'})"
            )
        return self.answering.onnx_predict(self, inputs, batch_size, **options)

    def feeds(self, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        """The arrays the graph is fed for one batch of raw inputs (what the parity check compares)."""
        return self.answering.onnx_feeds(self, inputs)

    def raw_outputs(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's first output for already-prepared input arrays."""
        names = {i.name for i in self.session.get_inputs()}
        return self.session.run(None, {k: v for k, v in feeds.items() if k in names})[0]

    # --- preprocessing the answering classes use -----------------------------------------------------

    def text_feeds(
        self, texts: Sequence[Any], *, pretokenized: bool = False, suffix: str = ""
    ) -> tuple[dict[str, np.ndarray], list[Any]]:
        """Input arrays of a batch of texts (or pairs, or token lists) and their encodings."""
        import numpy as np

        if self.tokenizer is None:
            raise InvalidManifestError(
                str(self.directory), f"{TOKENIZER_FILE} is missing; export the model again"
            )
        encodings = self.tokenizer.encode_batch(list(texts), is_pretokenized=pretokenized)
        feeds = {
            f"input_ids{suffix}": np.asarray([e.ids for e in encodings], dtype=np.int64),
            f"attention_mask{suffix}": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        }
        if not suffix:
            feeds["token_type_ids"] = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        return feeds, encodings

    def image_feeds(self, images: Sequence[Any]) -> dict[str, np.ndarray]:
        """``pixel_values`` N×3×S×S: shorter side to ``resize``, centre crop, ``(x - mean) / std``."""
        import numpy as np

        from finehub.imaging.transforms import CenterCrop, ResizeShorter

        resize, crop = ResizeShorter(self.spec["resize"]), CenterCrop(self.spec["image_size"])
        mean = np.asarray(self.spec["mean"], dtype=np.float32)
        std = np.asarray(self.spec["std"], dtype=np.float32)
        arrays = [(np.asarray(crop(resize(img)), dtype=np.float32) - mean) / std for img in images]
        return {"pixel_values": np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))}

    @staticmethod
    def batched(items: Sequence[Any], batch_size: int, run: Callable[[Sequence[Any]], Any]) -> list[Any]:
        """``run`` over consecutive batches of ``items``, results concatenated."""
        out: list[Any] = []
        for start in range(0, len(items), batch_size):
            out.extend(run(items[start : start + batch_size]))
        return out


def answering_class(entry: str, *, where: str) -> Any:
    """The exported module class named by ``entry`` that answers for a graph (onnx_feeds/onnx_predict)."""
    cls = import_named(entry, prefix=ANSWERING_PREFIX, what="config.onnx.module", where=where)
    if not callable(getattr(cls, "onnx_predict", None)):
        raise InvalidManifestError(where, f"{entry!r} cannot answer for an ONNX graph (no onnx_predict)")
    return cls
