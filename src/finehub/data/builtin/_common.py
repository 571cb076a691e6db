"""What the built-in datasets share: finding data shipped inside installed packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from finehub.errors import MissingDependencyError

# every built-in text dataset is dealt 80/10/10 with this seed unless the caller passes another
SPLIT_RATIOS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def package_dir(package: str, *, dataset: str) -> Path:
    """The folder of an installed package, found without importing (and so running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(package, "datasets", f"The {dataset!r} dataset")
    return Path(next(iter(spec.submodule_search_locations)))
