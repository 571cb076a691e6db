"""Where finehub keeps its files.

``FINEHUB_HOME`` (default ``~/.cache/finehub``) holds everything; see ``finehub.hub.store`` for
the layout under it.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("FINEHUB_HOME", Path.home() / ".cache" / "finehub")).expanduser()


def modules_dir() -> Path:
    return home() / "modules"


def cache_dir() -> Path:
    return home() / "cache"


def converted_dir() -> Path:
    """Safetensors converted once from pinned pickle weights of trusted packages."""
    return home() / "converted"


def datasets_dir() -> Path:
    return home() / "datasets"


def config_file() -> Path:
    return home() / "config.json"


def offline() -> bool:
    """True when FINEHUB_OFFLINE asks finehub never to touch the network.

    Hugging Face downloads also honour huggingface_hub's own HF_HUB_OFFLINE.
    """
    return os.environ.get("FINEHUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
