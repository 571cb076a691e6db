"""Import optional packages at the point of use, with an error that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from finehub.errors import MissingDependencyError


def require(
    module: str, *, package: str | None = None, extra: str | None = None, feature: str = ""
) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(package or module.split(".")[0], extra, feature) from e
