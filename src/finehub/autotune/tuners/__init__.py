"""Tuners by name; each is an Optuna sampler built as ``builder(space, popsize=..., seed=..., **options)``."""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

    from finehub.autotune.space import SearchSpace

_BUILDERS = {
    "hazero": "finehub.autotune.tuners.hazero:HAZero",
    "pshe2": "finehub.autotune.tuners.pshe2:PSHE2",
    "tpe": "finehub.autotune.tuners.optuna_builtin:tpe",
    "random": "finehub.autotune.tuners.optuna_builtin:random",
    "grid": "finehub.autotune.tuners.optuna_builtin:grid",
}
TUNERS = tuple(_BUILDERS)


def make_tuner(name: str, space: SearchSpace, *, popsize: int, seed: int = 0, **options: Any) -> BaseSampler:
    """The tuner ``name`` as an Optuna sampler; unknown names and options raise ConfigError."""
    target = _BUILDERS.get(name.lower())
    if target is None:
        close = difflib.get_close_matches(name.lower(), TUNERS, n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError("tuner", f"unknown tuner {name!r}; choose one of {', '.join(TUNERS)}.{hint}")
    module_name, _, attr = target.partition(":")
    builder = getattr(importlib.import_module(module_name), attr)
    try:
        return builder(space, popsize=popsize, seed=seed, **options)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        raise ConfigError("tuner_options", f"{name} does not take {sorted(options)}: {e}") from e


def max_trials(sampler: BaseSampler) -> int | None:
    """The most trials a tuner can use (a grid's size), or None when unbounded."""
    return getattr(sampler, "max_trials", None)
