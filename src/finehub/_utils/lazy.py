"""Import optional packages at the point of use, with an error that says how to install them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from finehub.errors import MissingDependencyError


def require(
    module: str, *, package: str | None = None, extra: str | None = None, feature: str = ""
) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(package or module.split(".")[0], extra, feature) from e


def lazy_attribute(
    package: str, name: str, table: Mapping[str, str], fallback: Callable[[str], Any] | None = None
) -> Any:
    """A package's public ``name``, imported on first use: ``table`` maps names to
    ``"module:attribute"`` (``"module:"`` for the module itself); other names go to ``fallback``,
    which returns None for names it does not know."""
    target = table.get(name)
    if target is not None:
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    value = fallback(name) if fallback is not None else None
    if value is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return value
