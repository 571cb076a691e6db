"""The dataset registry: names mapped to loaders, filled by ``@register_dataset``.

The built-ins (:mod:`finehub.data.builtin`) register themselves when that package is imported,
which happens on the first lookup, listing or registration, so a built-in name is always known
before a user's loader could take it. A name registered twice is an error; an unknown name
answers with the close matches.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any, overload

from finehub.data.dataset import Dataset, TextExample
from finehub.errors import ConfigError, DatasetNotFoundError, DuplicateDatasetError

Loader = Callable[..., Dataset]

BUILTIN_PACKAGE = "finehub.data.builtin"

_REGISTRY: dict[str, Loader] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    """Import the built-in datasets once, so their decorators fill the registry before any lookup.

    Imported by name, not at module level: the built-ins import this module to register.
    """
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        try:
            importlib.import_module(BUILTIN_PACKAGE)
        except BaseException:
            _builtins_loaded = False
            raise


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator adding a loader (keyword arguments only, returns a Dataset) under ``name``."""

    def decorator(loader: Loader) -> Loader:
        _load_builtins()
        if name in _REGISTRY:
            raise DuplicateDatasetError(name, _qualname(_REGISTRY[name]), _qualname(loader))
        _REGISTRY[name] = loader
        return loader

    return decorator


def list_datasets() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


@overload
def load(name: str, split: None = None, **kwargs: Any) -> Dataset: ...
@overload
def load(name: str, split: str, **kwargs: Any) -> list[TextExample]: ...
def load(name: str, split: str | None = None, **kwargs: Any) -> Dataset | list[TextExample]:
    """The registered dataset ``name`` (built with ``kwargs``), or just its ``split`` when given."""
    _load_builtins()
    loader = _REGISTRY.get(name)
    if loader is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        raise DatasetNotFoundError(name, list(_REGISTRY), close_matches=close)
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as e:
        accepted = ", ".join(inspect.signature(loader).parameters) or "no arguments"
        raise ConfigError(f"load({name!r})", f"{e}; it accepts: {accepted}") from e
    dataset = loader(**kwargs)
    return dataset if split is None else dataset[split]


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"
