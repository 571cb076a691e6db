"""Run an exported ONNX model with onnxruntime alone: no torch, no transformers.

Written by ``finehub export onnx`` (:mod:`finehub.finetune.onnx_export`)::

    module.json      ModuleInfo; ``config["onnx"]`` says what the graph is (``kind``), its input
                     and output names, and how to pre- and post-process (labels, max_seq_len,
                     image size, mean/std, CRF scores...)
    model.onnx       the graph (int8 weights when exported with --quantize int8)
    tokenizer.json   text models: the tokenizer, read by the ``tokenizers`` library

Kinds: ``text-classification``, ``multilabel-classification``, ``text-regression``,
``sequence-labeling``, ``text-matching``, ``image-classification``. Results have the same shape
as the PyTorch module's the model was exported from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.lazy import require
from finehub.errors import InvalidManifestError, ModuleInputError
from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
from finehub.modules._common import check_batch_size

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
TEXT_KINDS = (
    "text-classification",
    "multilabel-classification",
    "text-regression",
    "sequence-labeling",
    "text-matching",
)
KINDS = (*TEXT_KINDS, "image-classification")


@moduleinfo(
    name="onnx-model",
    version="1.0.0",
    task="onnx",
    summary="A fine-tuned finehub model exported to ONNX, run with onnxruntime only.",
    inputs={"inputs": "what the original module took: texts, [text_a, text_b] pairs, token lists or images"},
    outputs={"results": "the same result dicts as the original module"},
    requirements=("onnxruntime>=1.16", "tokenizers>=0.15"),
)
class OnnxModule(ModuleBase):
    """Init args: ``num_threads`` (onnxruntime intra-op threads; default: onnxruntime's choice)."""

    def __init__(
        self, *, directory: str | Path | None = None, num_threads: int | None = None, **init_args: Any
    ) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.store import MANIFEST, read_manifest

        if self.directory is None:
            raise InvalidManifestError(
                "onnx-model", "needs the folder of an exported ONNX model (directory=...)"
            )
        info = read_manifest(self.directory)
        self.info = info  # type: ignore[misc]  # per-instance metadata
        spec = info.config.get("onnx")
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise InvalidManifestError(
                str(self.directory / MANIFEST), f"config.onnx.kind must be one of {list(KINDS)}"
            )
        self.spec: dict[str, Any] = spec
        self.kind: str = spec["kind"]
        self.num_threads = num_threads
        self._session: Any = None
        self.tokenizer = self._tokenizer() if self.kind in TEXT_KINDS else None

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

    @property
    def label_names(self) -> list[str]:
        return list(self.spec.get("label_names", []))

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
        allowed = {
            "text-classification": {"top_k"},
            "image-classification": {"top_k"},
            "multilabel-classification": {"threshold"},
        }.get(self.kind, set())
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ModuleInputError(
                unknown[0], f"is not an option of a {self.kind} model (options: {sorted(allowed) or 'none'})"
            )
        return getattr(self, "_" + self.kind.replace("-", "_"))(inputs, batch_size, **options)

    def raw_outputs(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's first output for already-prepared input arrays (what the parity check compares)."""
        names = {i.name for i in self.session.get_inputs()}
        return self.session.run(None, {k: v for k, v in feeds.items() if k in names})[0]

    # --- preprocessing -----------------------------------------------------------------------------

    def text_feeds(
        self, texts: Sequence[Any], *, pretokenized: bool = False, suffix: str = ""
    ) -> tuple[dict[str, np.ndarray], list[Any]]:
        """Input arrays of a batch of texts (or pairs, or token lists) and their encodings."""
        import numpy as np

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

        from finehub.data.transforms import CenterCrop, ResizeShorter

        resize, crop = ResizeShorter(self.spec["resize"]), CenterCrop(self.spec["image_size"])
        mean = np.asarray(self.spec["mean"], dtype=np.float32)
        std = np.asarray(self.spec["std"], dtype=np.float32)
        arrays = [(np.asarray(crop(resize(img)), dtype=np.float32) - mean) / std for img in images]
        return {"pixel_values": np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))}

    def _batched(self, items: Sequence[Any], batch_size: int, run: Any) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(items), batch_size):
            out.extend(run(items[start : start + batch_size]))
        return out

    # --- one method per kind -------------------------------------------------------------------------

    def _text_classification(
        self, inputs: Any, batch_size: int, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        import numpy as np

        from finehub.modules.text_classifier import check_texts, format_predictions
        from finehub.modules.text_tasks import softmax

        texts = check_texts(inputs)
        rows = self._batched(texts, batch_size, lambda b: self.raw_outputs(self.text_feeds(b)[0]))
        return format_predictions(softmax(np.stack(rows)), self.label_names, top_k)

    def _multilabel_classification(
        self, inputs: Any, batch_size: int, threshold: float | None = None
    ) -> list[dict[str, Any]]:
        import numpy as np

        from finehub.modules.text_classifier import check_texts
        from finehub.modules.text_tasks import multilabel_results, sigmoid

        threshold = self.spec["threshold"] if threshold is None else threshold
        if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise ModuleInputError("threshold", f"must be a number in (0, 1), got {threshold!r}")
        texts = check_texts(inputs)
        rows = self._batched(texts, batch_size, lambda b: self.raw_outputs(self.text_feeds(b)[0]))
        return multilabel_results(sigmoid(np.stack(rows)), self.label_names, threshold)

    def _text_regression(self, inputs: Any, batch_size: int) -> list[dict[str, float]]:
        from finehub.modules.text_classifier import check_texts

        texts = check_texts(inputs)
        rows = self._batched(texts, batch_size, lambda b: self.raw_outputs(self.text_feeds(b)[0]))
        return [{"value": float(v)} for v in rows]

    def _sequence_labeling(self, inputs: Any, batch_size: int) -> list[dict[str, Any]]:
        import numpy as np

        from finehub.modules.text_tasks import check_token_inputs, first_subtokens, tagging_results
        from finehub.modules.text_tasks.tagging import viterbi

        tokens = check_token_inputs(inputs, char_level=self.spec["char_level"])
        crf = self.spec.get("crf")

        def run(batch: Sequence[list[str]]) -> list[list[int]]:
            feeds, encodings = self.text_feeds(batch, pretokenized=True)
            scores = self.raw_outputs(feeds)
            out = []
            for row, enc in zip(scores, encodings, strict=True):
                rows = row[first_subtokens(enc.word_ids)]
                if crf is None:
                    out.append(rows.argmax(-1).tolist())
                else:
                    out.append(viterbi(rows, *(np.asarray(crf[k]) for k in ("start", "end", "transitions"))))
            return out

        return tagging_results(tokens, self._batched(tokens, batch_size, run), self.spec["tag_names"])

    def _text_matching(self, inputs: Any, batch_size: int) -> list[dict[str, Any]]:
        from finehub.modules.text_tasks import check_pairs, match_results

        pairs = check_pairs(inputs)

        def run(batch: Sequence[tuple[str, str]]) -> list[Any]:
            feeds = {
                **self.text_feeds([a for a, _ in batch], suffix="_a")[0],
                **self.text_feeds([b for _, b in batch], suffix="_b")[0],
            }
            return list(self.raw_outputs(feeds))

        return match_results(self._batched(pairs, batch_size, run), self.spec)

    def _image_classification(
        self, inputs: Any, batch_size: int, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        import numpy as np

        from finehub.data.images import load_images
        from finehub.modules.text_classifier import format_predictions
        from finehub.modules.text_tasks import softmax

        images = load_images(inputs)
        rows = self._batched(images, batch_size, lambda b: self.raw_outputs(self.image_feeds(b)))
        return format_predictions(softmax(np.stack(rows)), self.label_names, top_k)
