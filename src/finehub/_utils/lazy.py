"""Import optional packages at the point of use, with an error that says how to install them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


def require(
    module: str, *, package: str | None = None, extra: str | None = None, feature: str = ""
) -> ModuleType:
    from finehub.errors import MissingDependencyError  # kept out of ``import finehub``

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


def lazy_package(
    package: str, namespace: dict[str, Any], table: Mapping[str, str], *, registry: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: names in ``table`` are imported on first use
    (see :func:`lazy_attribute`), other names come from module ``registry``'s ``public_class(name)``
    and ``public_classes()``; each name found is kept in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        value = lazy_attribute(package, name, table, importlib.import_module(registry).public_class)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *table, *importlib.import_module(registry).public_classes()])

    return __getattr__, __dir__
