"""Names of the trial attributes that carry the round structure through the study storage.

User attributes (visible in optuna-dashboard): ``round``, ``slot`` (index in the round's
population), ``parent`` (number of the trial whose checkpoint a population child started from),
``retry_of`` (number of the interrupted trial this one re-runs), ``save_dir``, ``error``.
System attributes: the worker running a trial (host, pid) and its last heartbeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

ROUND = "round"
SLOT = "slot"
PARENT = "parent"
RETRY_OF = "retry_of"
SAVE_DIR = "save_dir"
ERROR = "error"

HOST = "finehub:host"
PID = "finehub:pid"
HEARTBEAT = "finehub:heartbeat"
CONFIG = "finehub:config"


def position(trial: FrozenTrial, popsize: int) -> tuple[int, int]:
    """(round, slot) of a trial; trials made outside the runner count in creation order."""
    attrs = trial.user_attrs
    if ROUND in attrs and SLOT in attrs:
        return int(attrs[ROUND]), int(attrs[SLOT])
    return divmod(trial.number, popsize)


def superseded(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of interrupted trials that a later trial re-runs; they do not count."""
    return {int(t.user_attrs[RETRY_OF]) for t in trials if RETRY_OF in t.user_attrs}
