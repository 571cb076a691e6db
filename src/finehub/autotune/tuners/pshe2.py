"""PSHE2: particle swarm with per-particle momentum and bounded noise, over the normalised space."""

from __future__ import annotations

import numpy as np

from finehub.autotune.space import SearchSpace
from finehub.autotune.tuners.base import RoundTuner


class PSHE2(RoundTuner):
    """One particle per slot; round k moves every particle i (all state per particle)::

        p_i  = best point particle i has evaluated;  g = best point of the swarm
        c_k  = clip(1 - 3*alpha/k, 0, c_max)          # momentum coefficient rising over rounds
        m_i <- c_k*m_i - alpha*(x_i - p_i) - alpha*(x_i - g)
        x_i <- x_i + alpha*m_i + e_i,   e_i ~ U(-eps_k, eps_k),  eps_k = epsilon / sqrt(k)

    Round 0 places particle 0 at the init values and spreads the others between x0 and the
    bounds as PaddleHub does (x0 + r*(1 - x0) for r >= 0, x0 + r*(x0 + 1) for r < 0, r ~ U(-1, 1)).
    A particle leaving [-1, 1] is clipped and loses the momentum along that axis. A failed trial
    leaves its particle's personal best unchanged. The swarm is replayed from the seed and the
    stored losses, so nothing lives in the object.
    """

    name = "pshe2"

    def __init__(
        self,
        space: SearchSpace,
        *,
        popsize: int,
        seed: int = 0,
        alpha: float = 0.5,
        epsilon: float = 0.2,
        c_max: float = 0.9,
    ) -> None:
        super().__init__(space, popsize=popsize, seed=seed)
        self.alpha, self.epsilon, self.c_max = alpha, epsilon, c_max

    def propose_round(self, rnd: int, losses: list[np.ndarray]) -> np.ndarray:
        x = self._initial_swarm()
        m = np.zeros_like(x)
        best_x, best_loss = x.copy(), np.full(self.popsize, np.inf)
        for k in range(1, rnd + 1):
            loss = losses[k - 1]
            improved = np.isfinite(loss) & (loss < best_loss)
            best_x[improved], best_loss[improved] = x[improved], loss[improved]
            known = np.isfinite(best_loss)[:, None]
            personal = np.where(known, x - best_x, 0.0)
            swarm = x - best_x[np.argmin(best_loss)] if known.any() else 0.0
            c = float(np.clip(1 - 3 * self.alpha / k, 0.0, self.c_max))
            m = c * m - self.alpha * personal - self.alpha * swarm
            eps = self.epsilon / np.sqrt(k)
            x = x + self.alpha * m + np.random.default_rng([self.seed, k]).uniform(-eps, eps, x.shape)
            outside = np.abs(x) > 1
            m[outside] = 0.0
            x = np.clip(x, -1.0, 1.0)
        return x

    def _initial_swarm(self) -> np.ndarray:
        x0 = self.space.x0()
        r = np.random.default_rng([self.seed, 0]).uniform(-1.0, 1.0, (self.popsize, len(x0)))
        x = np.where(r >= 0, x0 + r * (1 - x0), x0 + r * (x0 + 1))
        x[0] = x0
        return x
