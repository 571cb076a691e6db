"""The round-based tuner interface, as an Optuna sampler.

A search runs in rounds of ``popsize`` trials. Each trial carries its ``round`` and ``slot``
(0..popsize-1) as user attributes; the runner opens round r only once every slot of round r-1
is COMPLETE or FAIL. A tuner implements one method::

    propose_round(rnd, losses) -> array (popsize, dim) in the normalised space [-1, 1]

where ``losses[k][i]`` is the loss (the metric, negated when maximising; NaN when the trial
failed) of slot i in round k < rnd. Lifecycle of one trial, driven by Optuna:

1. ``infer_relative_search_space`` answers the whole space, so every parameter is sampled jointly;
2. ``sample_relative`` reads the finished rounds from the study storage, calls
   ``propose_round`` and decodes the row of this trial's slot to native values;
3. ``sample_independent`` only serves parameters outside the space (uniform random).

The tuner keeps no state between calls and creates its random generators inside
``propose_round`` from ``seed`` (and the round): any process that reads the same storage replays
the same search, so resumed, parallel and multi-machine runs continue one search. Trials made
outside the runner (a plain ``study.optimize`` loop) count as round ``number // popsize``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from finehub.autotune import _keys
from finehub.errors import ConfigError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from finehub.autotune.space import SearchSpace


def derive_seed(*parts: int) -> int:
    """A 32-bit seed that depends on every part (seed, round, trial number...)."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class RoundTuner(BaseSampler, abc.ABC):
    """Base of tuners that propose a whole population per round; see the module docstring."""

    name: ClassVar[str]
    min_popsize: ClassVar[int] = 1

    def __init__(self, space: SearchSpace, *, popsize: int, seed: int = 0) -> None:
        if popsize < self.min_popsize:
            raise ConfigError(
                "popsize", f"{self.name} needs a population of at least {self.min_popsize}, got {popsize}"
            )
        self.space = space
        self.popsize = popsize
        self.seed = seed
        self._memo: tuple[bytes, np.ndarray] | None = None  # last round computed; a cache, not state

    def __str__(self) -> str:
        return self.name

    @abc.abstractmethod
    def propose_round(self, rnd: int, losses: list[np.ndarray]) -> np.ndarray:
        """Normalised points (popsize, dim) of round ``rnd``, given the losses of rounds 0..rnd-1."""

    # -- Optuna's sampler interface -----------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.space.distributions()

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        rnd, slot = _keys.position(trial, self.popsize)
        if slot >= self.popsize:
            raise ConfigError(
                "popsize", f"trial {trial.number} has slot {slot}, but the tuner's popsize is {self.popsize}"
            )
        return self.space.decode(self._round(rnd, self.losses(study, rnd))[slot])

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        fallback = RandomSampler(seed=derive_seed(self.seed, trial.number))
        return fallback.sample_independent(study, trial, param_name, param_distribution)

    def _round(self, rnd: int, losses: list[np.ndarray]) -> np.ndarray:
        key = np.array([rnd, *np.concatenate(losses or [np.empty(0)])]).tobytes()
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, np.asarray(self.propose_round(rnd, losses), dtype=float))
        return self._memo[1]

    # -- reading the finished rounds ------------------------------------------------------------

    def losses(self, study: Study, rnd: int) -> list[np.ndarray]:
        """Per round k < rnd, the losses of slots 0..popsize-1 (NaN: failed or missing)."""
        out = [np.full(self.popsize, np.nan) for _ in range(rnd)]
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        for t in trials:
            k, slot = _keys.position(t, self.popsize)
            if k < rnd and slot < self.popsize and t.value is not None:
                out[k][slot] = sign * t.value
        return out
