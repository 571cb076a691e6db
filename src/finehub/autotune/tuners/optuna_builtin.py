"""Optuna's own samplers (TPE, random, grid) behind the same door as the round tuners."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler

from finehub.autotune.space import SearchSpace
from finehub.autotune.tuners.base import derive_seed

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial


class PerTrialSampler(BaseSampler):
    """Delegates to a sampler built afresh for each trial, seeded from (seed, trial number).

    Optuna's samplers read their history from the storage but keep one random stream in the
    object; building one per trial makes every worker, and every resumed run, propose what a
    single uninterrupted run would. ``after_trial`` is not forwarded: the runner owns the trial
    budget (``max_trials``), which replaces GridSampler's stop signal.
    """

    def __init__(
        self, name: str, make: Callable[[int], BaseSampler], *, seed: int, max_trials: int | None = None
    ):
        self.name, self._make, self.seed, self.max_trials = name, make, seed, max_trials
        self._cache: tuple[int, BaseSampler] | None = None

    def __str__(self) -> str:
        return self.name

    def _inner(self, trial: FrozenTrial) -> BaseSampler:
        if self._cache is None or self._cache[0] != trial.number:
            self._cache = (trial.number, self._make(derive_seed(self.seed, trial.number)))
        return self._cache[1]

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._inner(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._inner(trial).sample_independent(study, trial, param_name, param_distribution)


def random(space: SearchSpace, *, popsize: int, seed: int = 0) -> PerTrialSampler:
    return PerTrialSampler("random", lambda s: RandomSampler(seed=s), seed=seed)


def tpe(space: SearchSpace, *, popsize: int, seed: int = 0, n_startup_trials: int = 10) -> PerTrialSampler:
    """TPE with constant liar, so trials of one round running in parallel are not proposed twice."""

    def make(s: int) -> BaseSampler:
        return TPESampler(seed=s, n_startup_trials=n_startup_trials, multivariate=True, constant_liar=True)

    return PerTrialSampler("tpe", make, seed=seed)


def grid(space: SearchSpace, *, popsize: int, seed: int = 0, points_per_float: int = 5) -> PerTrialSampler:
    """Every combination of choices, step values and ``points_per_float`` values per float.

    The grid's order is shuffled by ``seed`` and grid ids are stored with the trials, so every
    trial's sampler must use the study seed itself, never a per-trial one.
    """
    values = space.grid(points_per_float)
    size = math.prod(len(v) for v in values.values())
    return PerTrialSampler("grid", lambda _: GridSampler(values, seed=seed), seed=seed, max_trials=size)
