"""What a study leaves in its output dir, rewritten from the storage at the end of every run::

OUTPUT_DIR/
  study.journal          the study (default storage): `optuna-dashboard OUTPUT_DIR/study.journal`
  trials/<number>/       log.txt, result.json, output/ (the trial's save dir)
  best_model/            copy of the best trial's output/best_model/ (else of output/)
  best.json              best value, params and trial
  trials.csv             every trial: number, round, slot, state, value, duration, parent, params
  report.md              summary, rounds, top trials, plots
  history.png            value per trial and best so far
  parallel.png           parallel coordinates of the normalised parameters, coloured by value
  population.png         every trial's value per round, with the round's best and mean
  tensorboard/           per-round scalars (best, mean, best so far, failures, best params)
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.fs import atomic_path, atomic_write_json, atomic_write_text, file_lock
from finehub.autotune import _keys

if TYPE_CHECKING:
    from optuna import Study

    from finehub.autotune.space import SearchSpace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialRecord:
    number: int
    round: int | None
    slot: int | None
    state: str
    value: float | None
    params: dict[str, Any]
    duration_s: float | None
    parent: int | None
    retry_of: int | None
    error: str | None
    save_dir: Path | None


@dataclass(frozen=True)
class TuneResult:
    """``best_model_dir`` is None when the best trial saved nothing (or ran on another machine)."""

    best_params: dict[str, Any]
    best_value: float | None
    best_trial_dir: Path | None
    best_model_dir: Path | None
    trials: list[TrialRecord]
    study_name: str
    storage: str


def records(study: Study) -> list[TrialRecord]:
    out = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        out.append(
            TrialRecord(
                number=t.number,
                round=a.get(_keys.ROUND),
                slot=a.get(_keys.SLOT),
                state=t.state.name,
                value=t.value if t.values else None,
                params=dict(t.params),
                duration_s=duration,
                parent=a.get(_keys.PARENT),
                retry_of=a.get(_keys.RETRY_OF),
                error=a.get(_keys.ERROR),
                save_dir=Path(a[_keys.SAVE_DIR]) if _keys.SAVE_DIR in a else None,
            )
        )
    return out


def write_results(study: Study, space: SearchSpace, output_dir: Path, *, storage_url: str) -> TuneResult:
    from optuna.study import StudyDirection

    recs = records(study)
    maximize = study.direction == StudyDirection.MAXIMIZE
    done = [r for r in recs if r.value is not None]
    best = (max if maximize else min)(done, key=lambda r: r.value) if done else None
    with file_lock(output_dir / ".results.lock"):
        _write_csv(recs, space, output_dir / "trials.csv")
        _plots(recs, space, output_dir, maximize)
        _tensorboard(recs, output_dir / "tensorboard", maximize)
        model_dir = _export_best(best, output_dir) if best else None
        if best:
            atomic_write_json(
                output_dir / "best.json",
                {"value": best.value, "params": best.params, "trial": best.number, "round": best.round},
            )
        atomic_write_text(
            output_dir / "report.md", _report(study, recs, best, model_dir, storage_url, maximize)
        )
    return TuneResult(
        best_params=dict(best.params) if best else {},
        best_value=best.value if best else None,
        best_trial_dir=output_dir / "trials" / str(best.number) if best else None,
        best_model_dir=model_dir,
        trials=recs,
        study_name=study.study_name,
        storage=storage_url,
    )


def _write_csv(recs: list[TrialRecord], space: SearchSpace, path: Path) -> None:
    head = [
        "number",
        "round",
        "slot",
        "state",
        "value",
        "duration_s",
        "parent",
        "retry_of",
        *space.names,
        "error",
    ]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for r in recs:
            duration = f"{r.duration_s:.3f}" if r.duration_s is not None else ""
            fixed = [r.number, r.round, r.slot, r.state, r.value, duration, r.parent, r.retry_of]
            w.writerow(
                ["" if v is None else v for v in fixed]
                + [r.params.get(n, "") for n in space.names]
                + [r.error or ""]
            )


def _by_round(recs: list[TrialRecord]) -> dict[int, list[TrialRecord]]:
    rounds: dict[int, list[TrialRecord]] = {}
    for r in recs:
        if r.round is not None and r.state in ("COMPLETE", "FAIL"):
            rounds.setdefault(r.round, []).append(r)
    return dict(sorted(rounds.items()))


def _round_stats(
    rows: list[TrialRecord], maximize: bool
) -> tuple[TrialRecord | None, float | None, int, int]:
    """(best, mean, completed, failed); re-run interrupted trials count as failed."""
    values = [r for r in rows if r.value is not None]
    best = (max if maximize else min)(values, key=lambda r: r.value) if values else None
    mean = sum(r.value for r in values) / len(values) if values else None  # type: ignore[misc]
    return best, mean, len(values), len(rows) - len(values)


# -- plots ---------------------------------------------------------------------------------------


def _figure(width: float = 7.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _plots(recs: list[TrialRecord], space: SearchSpace, out: Path, maximize: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    done = sorted((r for r in recs if r.value is not None), key=lambda r: r.number)
    if not done:
        return
    better = max if maximize else min
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter([r.number for r in done], [r.value for r in done], s=14, label="trial")
    running, best = [], None
    for r in done:
        best = r.value if best is None else better(best, r.value)
        running.append(best)
    ax.step([r.number for r in done], running, where="post", color="C3", label="best so far")
    ax.set(xlabel="trial", ylabel="value", title="Optimisation history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    _save(fig, out / "history.png")

    fig = _figure()
    ax = fig.add_subplot()
    rounds = _by_round(recs)
    for k, rows in rounds.items():
        ys = [r.value for r in rows if r.value is not None]
        ax.scatter([k] * len(ys), ys, s=14, color="C0")
    stats = {k: _round_stats(rows, maximize) for k, rows in rounds.items()}
    ks = [k for k, s in stats.items() if s[0] is not None]
    ax.plot(ks, [stats[k][0].value for k in ks], "-o", color="C3", label="round best")  # type: ignore[union-attr]
    ax.plot(ks, [stats[k][1] for k in ks], "--", color="C2", label="round mean")
    ax.set(xlabel="round", ylabel="value", title="Population per round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    _save(fig, out / "population.png")

    full = [r for r in done if all(n in r.params for n in space.names)]
    if not full:
        return
    import matplotlib as mpl

    fig = _figure(max(5.0, 1.6 * len(space)), 4.5)
    ax = fig.add_subplot()
    values = [r.value for r in full]
    norm = mpl.colors.Normalize(min(values), max(values))
    cmap = mpl.colormaps["viridis" if maximize else "viridis_r"]
    xs = list(range(len(space)))
    for r in sorted(full, key=lambda r: r.value, reverse=not maximize):
        ax.plot(xs, space.encode(r.params), color=cmap(norm(r.value)), alpha=0.8, lw=1.2)
    ax.set_xticks(xs, [_axis_label(p) for p in space], fontsize=8)
    ax.set_yticks([-1, 1], ["low", "high"])
    ax.set_title("Parallel coordinates (normalised parameters)")
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="value")
    _save(fig, out / "parallel.png")


def _axis_label(p: Any) -> str:
    if p.type == "categorical":
        return f"{p.name}\n{p.choices[0]} .. {p.choices[-1]}"
    return f"{p.name}\n{p.low:g} .. {p.high:g}" + (" (log)" if p.log else "")


# -- tensorboard ---------------------------------------------------------------------------------


def _tensorboard(recs: list[TrialRecord], log_dir: Path, maximize: bool) -> None:
    rounds = _by_round(recs)
    if not rounds:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        log.warning("TensorBoard scalars skipped (%s); pip install tensorboard to get them", e)
        return
    shutil.rmtree(log_dir, ignore_errors=True)  # rewritten whole, so a resumed study has no duplicate steps
    best_so_far = None
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        for k, rows in rounds.items():
            best, mean, completed, failed = _round_stats(rows, maximize)
            writer.add_scalar("round/completed", completed, k)
            writer.add_scalar("round/failed", failed, k)
            if best is None:
                continue
            best_so_far = (
                best.value if best_so_far is None else (max if maximize else min)(best_so_far, best.value)
            )
            writer.add_scalar("round/best", best.value, k)
            writer.add_scalar("round/mean", mean, k)
            writer.add_scalar("study/best_so_far", best_so_far, k)
            for name, v in best.params.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    writer.add_scalar(f"best_params/{name}", v, k)


# -- best model and report -----------------------------------------------------------------------


def _export_best(best: TrialRecord, out: Path) -> Path | None:
    """Copy the best trial's best_model/ (or its whole save dir) to OUTPUT_DIR/best_model."""
    src = best.save_dir
    if src is None or not src.is_dir():
        log.warning("the best trial's save dir %s is not on this machine; best_model/ not written", src)
        return None
    if (src / "best_model").is_dir():
        src = src / "best_model"
    if not any(src.iterdir()):
        return None
    dest, tmp = out / "best_model", out / f".best_model.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return "" if v is None else str(v)


def _report(
    study: Study,
    recs: list[TrialRecord],
    best: TrialRecord | None,
    model_dir: Path | None,
    storage_url: str,
    maximize: bool,
) -> str:
    complete = sum(r.state == "COMPLETE" for r in recs)
    failed = sum(r.state == "FAIL" for r in recs)
    rerun = sum(r.retry_of is not None for r in recs)
    lines = [
        f"# Autotune report: {study.study_name}",
        "",
        f"- storage: `{storage_url}` (browse it live with `optuna-dashboard {storage_url}`)",
        f"- direction: {'maximize' if maximize else 'minimize'}",
        f"- trials: {complete} complete, {failed} failed, {rerun} re-run after an interruption",
    ]
    if best is None:
        lines += ["- no trial completed; see `trials/<number>/log.txt` of the failed ones", ""]
        return "\n".join(lines) + "\n"
    lines += [
        f"- best value: **{_fmt(best.value)}** in trial {best.number} (round {best.round}), saved in `trials/{best.number}/`",
        f"- best model: `{model_dir}`"
        if model_dir
        else "- best model: none (the best trial saved nothing here)",
        "",
        "| parameter | best value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in best.params.items()],
        "",
        "## Rounds",
        "",
        "| round | completed | failed | best | mean | best trial |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k, rows in _by_round(recs).items():
        rb, mean, n_ok, n_fail = _round_stats(rows, maximize)
        lines.append(
            f"| {k} | {n_ok} | {n_fail} | {_fmt(rb.value if rb else None)} | {_fmt(mean)} | {rb.number if rb else ''} |"
        )
    done = sorted((r for r in recs if r.value is not None), key=lambda r: r.value, reverse=maximize)[:10]
    names = list(best.params)
    lines += [
        "",
        "## Top trials",
        "",
        "| trial | round | value | parent | " + " | ".join(names) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " |",
        *[
            f"| {r.number} | {r.round} | {_fmt(r.value)} | {_fmt(r.parent)} | "
            + " | ".join(_fmt(r.params.get(n)) for n in names)
            + " |"
            for r in done
        ],
        "",
        "## Plots",
        "",
        "![history](history.png)",
        "",
        "![population](population.png)",
        "",
        "![parallel coordinates](parallel.png)",
        "",
        "Every trial is in `trials.csv`; per-round scalars in `tensorboard/` (`tensorboard --logdir tensorboard`).",
    ]
    return "\n".join(lines) + "\n"
