"""Evaluators decide where a trial's training starts: from scratch, or from a parent's checkpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from finehub.autotune import _keys
from finehub.errors import ConfigError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class FullEvaluator:
    """Every trial trains from scratch with its own hyper-parameters (PaddleHub's ``FullTrail``)."""

    name: ClassVar[str] = "full"
    epochs_per_round: int | None = None

    def parent(
        self, finished: Sequence[FrozenTrial], rnd: int, slot: int, maximize: bool
    ) -> FrozenTrial | None:
        return None


@dataclass(frozen=True)
class PopulationEvaluator:
    """Population-based training: exploit the best checkpoints, explore new hyper-parameters.

    A child in round r > 0 starts from the checkpoint of one of the top half of the latest
    earlier round that completed any trial (slot s takes the (s mod k)-th best of the k parents),
    trains ``epochs_per_round`` more epochs with its newly proposed hyper-parameters and saves
    its own checkpoint for the next round (PaddleHub's ``PopulationBased``).
    """

    name: ClassVar[str] = "population"
    epochs_per_round: int | None = None

    def parent(
        self, finished: Sequence[FrozenTrial], rnd: int, slot: int, maximize: bool
    ) -> FrozenTrial | None:
        by_round: dict[int, list[FrozenTrial]] = {}
        for t in finished:
            k = t.user_attrs.get(_keys.ROUND)
            if k is not None and k < rnd and t.value is not None and _keys.SAVE_DIR in t.user_attrs:
                by_round.setdefault(int(k), []).append(t)
        if not by_round:
            return None
        ranked = sorted(by_round[max(by_round)], key=lambda t: (-t.value if maximize else t.value, t.number))
        top = ranked[: math.ceil(len(ranked) / 2)]
        return top[slot % len(top)]


EVALUATORS = {"full": FullEvaluator, "population": PopulationEvaluator}
_ALIASES = {"fulltrail": "full", "populationbased": "population"}  # PaddleHub's names


def make_evaluator(name: str, *, epochs_per_round: int | None = None) -> FullEvaluator | PopulationEvaluator:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in EVALUATORS:
        raise ConfigError("evaluator", f"unknown evaluator {name!r}; choose one of {', '.join(EVALUATORS)}")
    if epochs_per_round is not None and epochs_per_round < 1:
        raise ConfigError("epochs_per_round", f"must be a positive number of epochs, got {epochs_per_round}")
    return EVALUATORS[key](epochs_per_round=epochs_per_round)
