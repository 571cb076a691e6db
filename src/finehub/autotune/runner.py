"""The study runner: rounds of ``popsize`` trials, coordinated through the study storage.

Every worker (one of N local processes, or one per machine) runs the same loop::

    until every round is done:
        holding the study lock:
            fail and re-queue trials whose worker is gone (dead pid on this host, or no
            heartbeat for ``stale_after`` seconds)
            find the first round with a slot that has no finished trial
            claim a free slot of it (a re-queued trial first); the tuner proposes its values
        run the trial outside the lock, heartbeat meanwhile, and tell the storage

A round opens only when every slot of the previous one is COMPLETE or FAIL, so the tuners see
whole generations, whichever worker or machine ran them. Kill -9 a runner and start the same
command again: finished trials stay, the interrupted ones are marked FAIL and re-run with the
same values as new trials (``retry_of`` names the one they replace).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.process import pid_alive
from finehub.autotune import _keys
from finehub.autotune.evaluators import make_evaluator
from finehub.autotune.space import SearchSpace
from finehub.autotune.storage import StudyStorage, open_storage
from finehub.autotune.trial import CallableTrial, ScriptTrial, TrialContext, die_with_parent
from finehub.errors import ConfigError, StudyError, TrialError

if TYPE_CHECKING:
    from optuna import Study
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial, Trial

    from finehub.autotune.results import TuneResult

logger = logging.getLogger("finehub.autotune")

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class TuneConfig:
    """Everything a worker needs; picklable, so spawned workers get an exact copy."""

    trial: CallableTrial | ScriptTrial
    space: SearchSpace
    tuner: str
    evaluator: str
    popsize: int
    rounds: int
    output_dir: Path
    study_name: str
    direction: str
    seed: int
    storage: str | None = None
    tuner_options: Mapping[str, Any] = field(default_factory=dict)
    epochs_per_round: int | None = None
    heartbeat_interval: float = 10.0
    stale_after: float = 120.0
    devices: tuple[str, ...] = ()
    poll_interval: float = 0.5

    def signature(self) -> dict[str, Any]:
        """The settings every worker of one study must share (``rounds`` may grow on a resume)."""
        sig = {
            "space": self.space.to_dict(),
            "tuner": self.tuner,
            "tuner_options": dict(self.tuner_options),
            "evaluator": self.evaluator,
            "epochs_per_round": self.epochs_per_round,
            "popsize": self.popsize,
            "seed": self.seed,
        }
        return json.loads(json.dumps(sig))


def tune(
    objective_or_script: Callable[[dict[str, Any], TrialContext], Any] | str | Path,
    space: SearchSpace | str | Path | Mapping[str, Any],
    *,
    tuner: str = "hazero",
    evaluator: str = "full",
    popsize: int = 5,
    rounds: int = 10,
    workers: int = 1,
    output_dir: str | Path = "autotune-output",
    storage: str | None = None,
    study_name: str | None = None,
    direction: str = "maximize",
    seed: int = 0,
    script_args: Sequence[str] = (),
    epochs_per_round: int | None = None,
    tuner_options: Mapping[str, Any] | None = None,
    trial_timeout: float | None = None,
    devices: Sequence[str] = (),
    heartbeat_interval: float = 10.0,
    stale_after: float = 120.0,
) -> TuneResult:
    """Search hyper-parameters; see the module docstring for how workers cooperate.

    ``objective_or_script`` is ``objective(params, ctx) -> float`` or the path of a training
    script (PaddleHub's command line, see :mod:`finehub.autotune.trial`). ``space`` is a
    :class:`SearchSpace`, a YAML path or its dict. ``workers`` local processes share the study;
    with a callable and ``workers > 1`` the callable must be importable (defined at module top
    level) and the calling script guarded by ``if __name__ == "__main__":``. Starting the same
    call again resumes the study; starting it on another machine with the same ``storage`` URL
    and ``study_name`` joins it. ``devices`` are handed out round-robin to the workers as
    ``CUDA_VISIBLE_DEVICES``. Results land in ``output_dir`` (see :mod:`finehub.autotune.results`).
    """
    for name, value in (("popsize", popsize), ("rounds", rounds), ("workers", workers)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(name, f"must be an integer of at least 1, got {value!r}")
    if direction not in DIRECTIONS:
        raise ConfigError("direction", f"must be maximize or minimize, got {direction!r}")
    if not 0 < 2 * heartbeat_interval < stale_after:
        raise ConfigError(
            "stale_after",
            f"must exceed twice heartbeat_interval ({heartbeat_interval:g} s), got {stale_after:g} s",
        )
    if not isinstance(tuner, str):
        raise ConfigError("tuner", f"must be a tuner name, got {tuner!r}")
    trial = _make_trial(objective_or_script, script_args, trial_timeout)
    space = SearchSpace.coerce(space)
    ev = make_evaluator(evaluator, epochs_per_round=epochs_per_round)
    if isinstance(trial, ScriptTrial) and epochs_per_round is not None and "epochs" in space.names:
        raise ConfigError(
            "epochs_per_round", "the search space already has a parameter `epochs`; drop one of the two"
        )
    out = Path(output_dir).resolve()
    cfg = TuneConfig(
        trial=trial,
        space=space,
        tuner=tuner.lower(),
        evaluator=ev.name,
        popsize=popsize,
        rounds=rounds,
        output_dir=out,
        study_name=study_name or "autotune",
        direction=direction,
        seed=seed,
        storage=storage,
        tuner_options=dict(tuner_options or {}),
        epochs_per_round=epochs_per_round,
        heartbeat_interval=heartbeat_interval,
        stale_after=stale_after,
        devices=tuple(devices),
    )
    sampler = _sampler(cfg)  # a bad tuner or option fails here, before any file is written
    out.mkdir(parents=True, exist_ok=True)
    handle, study = open_study(cfg, sampler)
    if workers == 1:
        work(cfg, opened=(handle, study))
    else:
        _run_workers(cfg, workers)
    from finehub.autotune.results import write_results

    return write_results(study, cfg.space, cfg.output_dir, storage_url=handle.url)


def _make_trial(
    objective: Any, script_args: Sequence[str], timeout: float | None
) -> CallableTrial | ScriptTrial:
    if isinstance(objective, (str, Path)):
        return ScriptTrial(objective, script_args, timeout=timeout)
    if script_args:
        raise ConfigError(
            "script_args", "extra arguments only apply to a script; pass values to the callable yourself"
        )
    if timeout is not None:
        raise ConfigError(
            "trial_timeout", "a timeout only applies to a script, which can be stopped; a callable cannot"
        )
    return CallableTrial(objective)


# -- the study ---------------------------------------------------------------------------------


def open_study(cfg: TuneConfig, sampler: BaseSampler | None = None) -> tuple[StudyStorage, Study]:
    """Create or join the study with ``sampler`` (default: the configured tuner's); refuse to join
    one started with other settings."""
    import optuna

    if sampler is None:  # made before the storage, so a bad tuner leaves no file behind
        sampler = _sampler(cfg)
    handle = open_storage(cfg.storage, cfg.output_dir)
    with handle.lock(cfg.study_name):
        study = optuna.create_study(
            storage=handle.storage,
            study_name=cfg.study_name,
            sampler=sampler,
            direction=cfg.direction,
            load_if_exists=True,
        )
        existing = study.direction.name.lower()
        if existing != cfg.direction:
            raise StudyError(
                cfg.study_name,
                f"was created to {existing}, not to {cfg.direction}; pass --direction {existing} or another study name",
            )
        saved, sig = study.user_attrs.get(_keys.CONFIG), cfg.signature()
        if saved is None:
            study.set_user_attr(_keys.CONFIG, sig)
        elif saved != sig:
            changed = ", ".join(k for k in sig if saved.get(k) != sig[k])
            raise StudyError(
                cfg.study_name,
                f"exists in {handle.url} with other settings ({changed}); start it with the same settings, or pick another study name or output dir",
            )
    return handle, study


def _sampler(cfg: TuneConfig) -> BaseSampler:
    """The configured tuner; an unknown name or option raises ConfigError."""
    from finehub.autotune.tuners import make_tuner

    return make_tuner(cfg.tuner, cfg.space, popsize=cfg.popsize, seed=cfg.seed, **cfg.tuner_options)


def _budget(cfg: TuneConfig, study: Study) -> int:
    from finehub.autotune.tuners import max_trials

    total, limit = cfg.popsize * cfg.rounds, max_trials(study.sampler)
    if limit is not None and limit < total:
        logger.info("the %s tuner has %d points; the study stops after %d trials", cfg.tuner, limit, limit)
        return limit
    return total


# -- workers -----------------------------------------------------------------------------------


def _run_workers(cfg: TuneConfig, workers: int) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    level = logger.getEffectiveLevel()
    procs = [
        ctx.Process(
            target=_worker_main, args=(cfg, i, os.getpid(), level), name=f"autotune-worker-{i}", daemon=False
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    failed = [f"{p.name} (exit code {p.exitcode})" for p in procs if p.exitcode != 0]
    if failed:
        raise StudyError(
            cfg.study_name,
            f"{', '.join(failed)} stopped with an error (see its traceback above); run the same command again to resume",
        )


def _worker_main(cfg: TuneConfig, index: int, parent_pid: int, log_level: int) -> None:
    die_with_parent()
    if os.getppid() != parent_pid:  # the runner died before we could tie ourselves to it
        return
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(log_level)
    work(cfg, index)


def work(cfg: TuneConfig, index: int = 0, *, opened: tuple[StudyStorage, Study] | None = None) -> None:
    """One worker's loop (see the module docstring); returns when every round is done."""
    if cfg.devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = cfg.devices[index % len(cfg.devices)]
    handle, study = opened or open_study(cfg)
    evaluator = make_evaluator(cfg.evaluator, epochs_per_round=cfg.epochs_per_round)
    total = _budget(cfg, study)
    while True:
        with handle.lock(cfg.study_name):
            claim = _claim(study, handle, cfg, evaluator, total)
        if claim is _DONE:
            return
        if claim is None:
            time.sleep(cfg.poll_interval)
            continue
        _run(study, handle, cfg, claim)


@dataclass
class _Claim:
    trial: Trial
    round: int
    slot: int
    init_from: Path | None


_DONE = object()


def _claim(
    study: Study, handle: StudyStorage, cfg: TuneConfig, evaluator: Any, total: int
) -> _Claim | object | None:
    """Claim the next slot (call with the study lock held): a _Claim, None (wait) or _DONE."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if _recover(study, trials, cfg):
        trials = study.get_trials(deepcopy=False)
    plan = _plan(trials, cfg.popsize, total)
    if plan is None:
        return _DONE
    rnd, free, waiting = plan
    if waiting:
        trial = _pop(study, handle, waiting[0])
    elif free:
        trial = study.ask()  # a trial the user enqueued fills a free slot too
    else:
        return None
    by_number = {t.number: t for t in trials}
    if _keys.ROUND in trial.user_attrs:
        slot, parent = (
            int(trial.user_attrs[_keys.SLOT]),
            by_number.get(trial.user_attrs.get(_keys.PARENT, -1)),
        )
    else:
        slot = free[0]
        finished = [t for t in trials if t.state == TrialState.COMPLETE]
        parent = evaluator.parent(finished, rnd, slot, cfg.direction == "maximize")
        trial.set_user_attr(_keys.ROUND, rnd)
        trial.set_user_attr(_keys.SLOT, slot)
        if parent is not None:
            trial.set_user_attr(_keys.PARENT, parent.number)
    for key, value in (
        (_keys.HOST, socket.gethostname()),
        (_keys.PID, os.getpid()),
        (_keys.HEARTBEAT, time.time()),
    ):
        handle.storage.set_trial_system_attr(trial._trial_id, key, value)
    cfg.space.suggest(trial)
    init_from = Path(parent.user_attrs[_keys.SAVE_DIR]) if parent is not None else None
    return _Claim(trial, rnd, slot, init_from)


def _plan(
    trials: list[FrozenTrial], popsize: int, total: int
) -> tuple[int, list[int], list[FrozenTrial]] | None:
    """(round, free slots, re-queued trials) of the first unfinished round; None when all are done."""
    from optuna.trial import TrialState

    skip = _keys.superseded(trials)
    slots: dict[tuple[int, int], list[FrozenTrial]] = {}
    for t in trials:
        if _keys.ROUND in t.user_attrs and t.number not in skip:
            slots.setdefault((int(t.user_attrs[_keys.ROUND]), int(t.user_attrs[_keys.SLOT])), []).append(t)
    for rnd in range(-(-total // popsize)):
        size = min(popsize, total - rnd * popsize)
        if all(any(t.state.is_finished() for t in slots.get((rnd, s), ())) for s in range(size)):
            continue
        free = [s for s in range(size) if (rnd, s) not in slots]
        waiting = [t for s in range(size) for t in slots.get((rnd, s), ()) if t.state == TrialState.WAITING]
        return rnd, free, waiting
    return None


def _pop(study: Study, handle: StudyStorage, waiting: FrozenTrial) -> Trial:
    """Start a re-queued trial, as ``study.ask`` would (the study lock is held, so no one races us)."""
    import optuna
    from optuna.trial import TrialState

    handle.storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    return optuna.Trial(study, waiting._trial_id)


# -- running one trial -------------------------------------------------------------------------


def _run(study: Study, handle: StudyStorage, cfg: TuneConfig, claim: _Claim) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    trial = claim.trial
    trial_dir = cfg.output_dir / "trials" / str(trial.number)
    ctx = TrialContext(
        trial_id=trial.number,
        round=claim.round,
        slot=claim.slot,
        params=dict(trial.params),
        trial_dir=trial_dir,
        save_dir=trial_dir / "output",
        init_from=claim.init_from,
        epochs=cfg.epochs_per_round,
    )
    ctx.save_dir.mkdir(parents=True, exist_ok=True)
    trial.set_user_attr(_keys.SAVE_DIR, str(ctx.save_dir))
    with open(ctx.log_path, "a", encoding="utf-8") as log:
        log.write(
            f"# trial {trial.number}, round {claim.round}, slot {claim.slot}, from {claim.init_from}: {ctx.params}\n"
        )
    logger.info(
        "trial %d (round %d, slot %d) started: %s", trial.number, claim.round, claim.slot, _short(ctx.params)
    )
    value, error = None, None
    beat = _Heartbeat(handle, trial._trial_id, cfg.heartbeat_interval)
    beat.start()
    try:
        value = cfg.trial.run(ctx)
    except TrialError as e:
        error = e.problem
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        with open(ctx.log_path, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
    except BaseException:  # Ctrl-C: hand the slot back so a resume re-runs it
        beat.stop()
        with handle.lock(cfg.study_name):
            _requeue(study, handle.storage.get_trial(trial._trial_id))
        raise
    finally:
        beat.stop()
    try:
        if error is None:
            study.tell(trial, value)
            logger.info("trial %d finished: %s", trial.number, value)
        else:
            trial.set_user_attr(_keys.ERROR, error)
            study.tell(trial, state=TrialState.FAIL)
            logger.warning("trial %d failed: %s (log: %s)", trial.number, error, ctx.log_path)
    except (UpdateFinishedTrialError, ValueError):
        logger.warning(
            "trial %d was given up as interrupted by another worker meanwhile; its result is dropped",
            trial.number,
        )


def _short(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class _Heartbeat(threading.Thread):
    """Stamps the trial every ``interval`` seconds, so other workers can tell it is alive."""

    def __init__(self, handle: StudyStorage, trial_id: int, interval: float):
        super().__init__(daemon=True, name=f"autotune-heartbeat-{trial_id}")
        self._storage, self._trial_id, self._interval = handle.storage, trial_id, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stopped.wait(self._interval):
            try:
                self._storage.set_trial_system_attr(self._trial_id, _keys.HEARTBEAT, time.time())
            except UpdateFinishedTrialError:
                return
            except Exception as e:  # a storage hiccup must not kill the trial; staleness shows if it lasts
                logger.warning("heartbeat of trial id %d failed: %s", self._trial_id, e)

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join()


# -- interrupted trials ------------------------------------------------------------------------


def _recover(study: Study, trials: list[FrozenTrial], cfg: TuneConfig) -> bool:
    """Fail and re-queue the RUNNING trials whose worker is gone; True if any was."""
    from optuna.trial import TrialState

    now, host = time.time(), socket.gethostname()
    stale = [t for t in trials if t.state == TrialState.RUNNING and _is_stale(t, now, host, cfg.stale_after)]
    return any([_requeue(study, t) for t in stale])


def _is_stale(t: FrozenTrial, now: float, host: str, stale_after: float) -> bool:
    attrs = t.system_attrs
    last = attrs.get(_keys.HEARTBEAT) or (t.datetime_start.timestamp() if t.datetime_start else now)
    if now - last > stale_after:
        return True
    return attrs.get(_keys.HOST) == host and _keys.PID in attrs and not pid_alive(int(attrs[_keys.PID]))


def _requeue(study: Study, t: FrozenTrial) -> bool:
    """Mark an interrupted trial FAIL and queue a copy with the same values; False if it had finished."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        study.tell(t.number, state=TrialState.FAIL)
    except (UpdateFinishedTrialError, ValueError):
        return False
    if _keys.ROUND not in t.user_attrs:
        return True
    attrs = {k: t.user_attrs[k] for k in (_keys.ROUND, _keys.SLOT, _keys.PARENT) if k in t.user_attrs}
    study.enqueue_trial(dict(t.params), user_attrs={**attrs, _keys.RETRY_OF: t.number})
    logger.warning("trial %d was interrupted; it runs again as a new trial with the same values", t.number)
    return True
