"""HAZero: CMA-ES (the ``cmaes`` package) over the normalised space, one generation per round."""

from __future__ import annotations

import numpy as np

from finehub.autotune.space import SearchSpace
from finehub.autotune.tuners.base import RoundTuner


class HAZero(RoundTuner):
    """CMA-ES started at the init values (x0) with step size ``sigma0`` in normalised units.

    The optimizer is never stored: round r replays generations 0..r-1 from the seed, telling
    each the losses read from the storage, then asks generation r. A failed trial is told the
    worst loss of its generation plus that generation's spread, so CMA-ES moves away from it.
    """

    name = "hazero"
    min_popsize = 4  # below, CMA-ES has no rank-mu update (its learning rate is 0)

    def __init__(self, space: SearchSpace, *, popsize: int, seed: int = 0, sigma0: float = 0.2) -> None:
        super().__init__(space, popsize=popsize, seed=seed)
        self.sigma0 = sigma0

    def propose_round(self, rnd: int, losses: list[np.ndarray]) -> np.ndarray:
        from cmaes import CMA

        x0 = self.space.x0()
        bounds = np.tile([-1.0, 1.0], (len(x0), 1))
        opt = CMA(mean=x0, sigma=self.sigma0, bounds=bounds, seed=self.seed, population_size=self.popsize)
        for k in range(rnd):
            xs = [opt.ask() for _ in range(self.popsize)]
            told = _penalise_failures(losses[k])
            if told is not None:
                opt.tell(list(zip(xs, told, strict=True)))
        return np.array([opt.ask() for _ in range(self.popsize)])


def _penalise_failures(losses: np.ndarray) -> np.ndarray | None:
    ok = np.isfinite(losses)
    if not ok.any():
        return None
    worst, spread = losses[ok].max(), np.ptp(losses[ok])
    return np.where(ok, losses, worst + max(spread, 1e-12))
