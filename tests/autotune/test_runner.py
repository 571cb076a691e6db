"""The runner end to end: outputs, evaluators, failures, resume, workers sharing a study, the CLI."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finehub.autotune import TrialContext, tune
from finehub.cli.autotune import register
from finehub.errors import ConfigError, SearchSpaceError, StudyError

from .conftest import cli_command, load_study, run_cli

SPACE = {
    "param_list": [
        {
            "name": "lr",
            "type": "float",
            "init_value": 0.001,
            "greater_than": 1e-5,
            "lower_than": 0.1,
            "log": True,
        },
        {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
    ]
}


def quadratic(params: dict, ctx: TrialContext) -> float:
    """Peaks at lr=1e-2 with adam; 'trains' by writing a best_model/ folder like the Trainer does."""
    (ctx.save_dir / "best_model").mkdir()
    (ctx.save_dir / "best_model" / "weights.json").write_text(json.dumps({"trial": ctx.trial_id, **params}))
    return -((math.log10(params["lr"]) + 2) ** 2) + (params["opt"] == "adam")


def test_a_callable_study_writes_every_result(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = tune(quadratic, SPACE, tuner="hazero", popsize=4, rounds=2, output_dir=out, seed=1)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(result.trials) == len(done) == 8
    assert [(t.round, t.slot) for t in result.trials] == [(r, s) for r in range(2) for s in range(4)]
    best = max(done, key=lambda t: t.value)
    assert (result.best_value, result.best_params) == (best.value, best.params)
    assert result.best_trial_dir == out / "trials" / str(best.number)
    assert result.best_model_dir == out / "best_model"
    assert json.loads((out / "best_model" / "weights.json").read_text())["trial"] == best.number
    assert json.loads((out / "best.json").read_text())["trial"] == best.number
    with open(out / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["number"] for r in rows] == [str(t.number) for t in result.trials]
    assert set(rows[0]) >= {"number", "round", "slot", "state", "value", "duration_s", "parent", "lr", "opt"}
    assert float(rows[best.number]["value"]) == pytest.approx(best.value)
    report = (out / "report.md").read_text()
    assert f"optuna-dashboard {out / 'study.journal'}" in report and f"trial {best.number}" in report
    for plot in ("history.png", "parallel.png", "population.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("round/best")] == [0, 1]
    assert events.Scalars("study/best_so_far")[-1].value == pytest.approx(best.value)


def test_population_children_start_from_the_top_half_of_the_last_round(tmp_path: Path) -> None:
    seen: dict[int, tuple[Path | None, int | None]] = {}

    def objective(params: dict, ctx: TrialContext) -> float:
        seen[ctx.trial_id] = (ctx.init_from, ctx.epochs)
        return quadratic(params, ctx)

    result = tune(
        objective,
        SPACE,
        tuner="pshe2",
        evaluator="population",
        popsize=4,
        rounds=3,
        epochs_per_round=2,
        output_dir=tmp_path,
    )
    by_number = {t.number: t for t in result.trials}
    for t in result.trials:
        init_from, epochs = seen[t.number]
        assert epochs == 2
        if t.round == 0:
            assert t.parent is None and init_from is None
            continue
        previous = sorted((p for p in result.trials if p.round == t.round - 1), key=lambda p: -p.value)
        assert t.parent in [p.number for p in previous[:2]]
        assert t.parent == previous[t.slot % 2].number
        assert init_from == by_number[t.parent].save_dir


def test_failed_scripts_are_recorded_and_the_study_goes_on(trainee, tmp_path: Path) -> None:
    script, _ = trainee
    space = {
        "param_list": [
            {"name": "learning_rate", "type": "categorical", "choices": [0.003]},
            {"name": "batch_size", "type": "int", "greater_than": 14, "lower_than": 17},
        ]
    }
    out = tmp_path / "out"
    result = tune(
        script,
        space,
        tuner="grid",
        popsize=2,
        rounds=5,
        output_dir=out,
        script_args=["--crash_at=15", "--silent_at=16"],
    )
    states = {t.params["batch_size"]: (t.state, t.error) for t in result.trials}
    assert len(result.trials) == 4  # the grid has 4 points, fewer than popsize x rounds
    assert states[14][0] == states[17][0] == "COMPLETE"
    assert states[15] == ("FAIL", "the script exited with code 1")
    assert states[16][0] == "FAIL" and "without reporting a metric" in states[16][1]
    crashed = next(t for t in result.trials if t.params["batch_size"] == 15)
    assert "ValueError: simulated crash" in (out / "trials" / str(crashed.number) / "log.txt").read_text()
    assert result.best_params == {"learning_rate": 0.003, "batch_size": 17}
    assert "2 complete, 2 failed" in (out / "report.md").read_text()


def test_more_rounds_resume_the_study_and_other_settings_are_refused(tmp_path: Path) -> None:
    calls: list[int] = []

    def objective(params: dict, ctx: TrialContext) -> float:
        calls.append(ctx.trial_id)
        return quadratic(params, ctx)

    first = tune(
        objective, SPACE, tuner="tpe", popsize=3, rounds=1, output_dir=tmp_path, direction="minimize"
    )
    second = tune(
        objective, SPACE, tuner="tpe", popsize=3, rounds=2, output_dir=tmp_path, direction="minimize"
    )
    assert calls == [0, 1, 2, 3, 4, 5]
    assert second.trials[:3] == first.trials
    assert second.best_value == min(t.value for t in second.trials)
    with pytest.raises(StudyError, match=r"other settings \(popsize\)"):
        tune(objective, SPACE, tuner="tpe", popsize=4, rounds=2, output_dir=tmp_path, direction="minimize")
    with pytest.raises(StudyError, match="created to minimize"):
        tune(objective, SPACE, tuner="tpe", popsize=3, rounds=2, output_dir=tmp_path)
    with pytest.raises(ConfigError, match="only apply to a script"):
        tune(objective, SPACE, output_dir=tmp_path, script_args=["--x=1"])


@pytest.mark.parametrize("storage", [None, pytest.param("sqlite", marks=pytest.mark.slow)])
def test_two_local_workers_share_one_study(storage: str | None, trainee, tmp_path: Path) -> None:
    script, hparam = trainee
    events = tmp_path / "events.txt"
    url = f"sqlite:///{tmp_path / 'study.db'}" if storage else None
    result = tune(
        script,
        hparam,
        tuner="pshe2",
        evaluator="population",
        popsize=4,
        rounds=2,
        workers=2,
        output_dir=tmp_path / "out",
        storage=url,
        script_args=["--sleep=0.3", f"--events={events}"],
    )
    assert [t.state for t in result.trials] == ["COMPLETE"] * 8
    assert sorted((t.round, t.slot) for t in result.trials) == [(r, s) for r in range(2) for s in range(4)]
    runs = [line.split() for line in events.read_text().splitlines()]
    assert len([r for r in runs if r[0] == "start"]) == 8  # nothing ran twice
    workers = {t.number: t for t in result.trials}
    starts = {int(r[1]): r for r in runs if r[0] == "start"}
    assert all(starts[n][2] == repr(workers[n].params["learning_rate"]) for n in workers)
    study = (
        load_study(tmp_path / "out")
        if url is None
        else __import__("optuna").load_study(study_name="autotune", storage=url)
    )
    assert len({t.system_attrs["finehub:pid"] for t in study.trials}) == 2  # both workers ran trials
    logs = "".join(p.read_text() for p in (tmp_path / "out" / "trials").glob("*/log.txt"))
    assert "database is locked" not in logs


def test_the_cli_runs_a_paddlehub_style_search(trainee, tmp_path: Path) -> None:
    script, hparam = trainee
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    out = tmp_path / "out"
    args = [
        "autotune",
        str(script),
        "--param_file",
        str(hparam),
        "--tuning_strategy",
        "random",
        "--popsize",
        "2",
        "--round",
        "2",
        "--output_dir",
        str(out),
        "--evaluator",
        "populationbased",
        "--",
        "--sleep=0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 of 4 trials complete." in result.output and "Best value" in result.output
    assert f"optuna-dashboard {out / 'study.journal'}" in result.output
    assert (out / "best_model" / "state.json").is_file()  # the best trial's saved params
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(hparam.read_text().replace("lower_than : 20", "lower_than : 5"))
    bad = CliRunner().invoke(app, ["autotune", str(script), "--param-file", str(wrong)])
    assert isinstance(bad.exception, SearchSpaceError) and bad.exception.entry == "batch_size"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"tuner": "nonsense"}, "tuner"),
        ({"tuner": None}, "tuner"),
        ({"tuner": "hazero", "tuner_options": {"sigma0": 0.1, "bogus": 1}}, "tuner_options"),
        ({"evaluator": "fastest"}, "evaluator"),
        ({"popsize": "5"}, "popsize"),
    ],
)
def test_bad_settings_fail_before_any_file_is_written(tmp_path: Path, settings: dict, field: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        tune(quadratic, SPACE, **{"popsize": 4, "rounds": 1, "output_dir": out, **settings})
    assert info.value.field == field
    assert not out.exists()


def test_the_cli_refuses_an_unknown_tuner_without_leaving_a_study_behind(trainee, tmp_path: Path) -> None:
    script, hparam = trainee
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    out = tmp_path / "out"
    args = [
        "autotune",
        str(script),
        "--param-file",
        str(hparam),
        "--tuner",
        "hazro",
        "--output-dir",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError) and result.exception.field == "tuner"
    assert "Did you mean hazero?" in str(result.exception)
    assert not (out / "study.journal").exists() and not out.exists()


def test_a_trial_abandoned_on_another_machine_is_rerun_once_its_heartbeat_is_stale(tmp_path: Path) -> None:
    from finehub.autotune.runner import TuneConfig, open_study
    from finehub.autotune.space import SearchSpace
    from finehub.autotune.trial import CallableTrial

    cfg = TuneConfig(
        trial=CallableTrial(quadratic),
        space=SearchSpace.coerce(SPACE),
        tuner="random",
        evaluator="full",
        popsize=2,
        rounds=1,
        output_dir=tmp_path,
        study_name="autotune",
        direction="maximize",
        seed=0,
    )
    _, study = open_study(cfg)
    lost = study.ask()
    lost.set_user_attr("round", 0)
    lost.set_user_attr("slot", 0)
    for key, value in (
        ("finehub:host", "another-machine"),
        ("finehub:pid", 1),
        ("finehub:heartbeat", time.time() - 600),
    ):
        study._storage.set_trial_system_attr(lost._trial_id, key, value)
    cfg.space.suggest(lost)

    result = tune(quadratic, SPACE, tuner="random", popsize=2, rounds=1, output_dir=tmp_path, stale_after=300)
    assert [(t.number, t.state, t.retry_of, t.slot) for t in result.trials] == [
        (0, "FAIL", None, 0),
        (1, "COMPLETE", 0, 0),
        (2, "COMPLETE", None, 1),
    ]
    assert result.trials[1].params == result.trials[0].params
    assert "1 re-run after an interruption" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_kill_minus_9_mid_round_then_the_same_command_resumes(trainee, tmp_path: Path) -> None:
    """Kill the runner while round 1 runs; the same command finishes the study, re-running only the interrupted trial.

    An uninterrupted run of the same command proposes exactly the same values in every slot.
    """
    script, hparam = trainee
    events = tmp_path / "events.txt"

    def command(out: Path, events_file: Path) -> list[str]:
        return cli_command(
            str(script),
            "--param-file",
            str(hparam),
            "--tuner",
            "pshe2",
            "--popsize",
            "3",
            "--rounds",
            "3",
            "--output-dir",
            str(out),
            "--",
            "--sleep=0.6",
            f"--events={events_file}",
        )

    out = tmp_path / "out"
    runner = subprocess.Popen(
        command(out, events), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait for round 0 done and a trial of round 1 under way
            lines = events.read_text().splitlines() if events.exists() else []
            if sum(line.startswith("end") for line in lines) >= 4 and lines[-1].startswith("start"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the study did not reach round 1")
        os.kill(runner.pid, signal.SIGKILL)
    finally:
        runner.wait()
    killed_at = events.read_text().splitlines()
    time.sleep(1.0)
    assert events.read_text().splitlines() == killed_at  # the trial's script died with its runner
    interrupted = int(killed_at[-1].split()[1])

    run_cli(*command(out, events)[4:])
    trials = load_study(out).trials
    assert trials[interrupted].state.name == "FAIL"
    retry = [t for t in trials if t.user_attrs.get("retry_of") == interrupted]
    assert len(retry) == 1 and retry[0].params == trials[interrupted].params
    assert (retry[0].user_attrs["round"], retry[0].user_attrs["slot"]) == (
        trials[interrupted].user_attrs["round"],
        trials[interrupted].user_attrs["slot"],
    )
    counted = [t for t in trials if t.number != interrupted]
    assert len(counted) == 9 and all(t.state.name == "COMPLETE" for t in counted)
    starts = [line.split()[1] for line in events.read_text().splitlines() if line.startswith("start")]
    assert len(starts) == len(set(starts)) == 10  # every trial ran once; only the interrupted one never ended
    ends = {line.split()[1] for line in events.read_text().splitlines() if line.startswith("end")}
    assert str(interrupted) not in ends

    reference = tmp_path / "reference"
    run_cli(*command(reference, tmp_path / "ref-events.txt")[4:])

    def by_slot(ts):
        return {
            (t.user_attrs["round"], t.user_attrs["slot"]): t.params for t in ts if t.state.name == "COMPLETE"
        }

    assert by_slot(trials) == by_slot(load_study(reference).trials)
