"""Trials: the report channel, script trials (ok, crash, silent), callable trials."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finehub.autotune import report, report_final_result
from finehub.autotune.trial import REPORT_ENV, TRIAL_ENV, CallableTrial, ScriptTrial, TrialContext
from finehub.errors import ConfigError, TrialError


def _ctx(
    tmp_path: Path, number: int = 3, params: dict | None = None, init_from: Path | None = None
) -> TrialContext:
    trial_dir = tmp_path / "trials" / str(number)
    ctx = TrialContext(
        trial_id=number,
        round=1,
        slot=0,
        params=params or {"learning_rate": 0.003, "batch_size": 16},
        trial_dir=trial_dir,
        save_dir=trial_dir / "output",
        init_from=init_from,
    )
    ctx.save_dir.mkdir(parents=True)
    return ctx


def test_importing_finehub_autotune_is_cheap() -> None:
    code = "import sys, finehub.autotune; print(sorted(m for m in ('optuna', 'torch', 'numpy', 'yaml', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_script_trial_gets_paddlehub_arguments_and_reports(trainee, tmp_path: Path) -> None:
    script, _ = trainee
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "state.json").write_text(json.dumps({"lineage": [1]}))
    ctx = _ctx(tmp_path, init_from=parent)
    trial = ScriptTrial(script, ["--sleep=0"])
    cmd = trial.command(ctx)
    assert cmd[2:] == [
        "--learning_rate=0.003",
        "--batch_size=16",
        f"--saved_params_dir={ctx.save_dir}",
        f"--model_path={parent}",
        "--sleep=0",
    ]
    value = trial.run(ctx)
    assert value == pytest.approx(-(((-2.5228787) + 2.5) ** 2), abs=1e-6)
    assert json.loads((ctx.save_dir / "state.json").read_text())["lineage"] == [1, 3]
    assert json.loads(ctx.result_path.read_text()) == {"metric": value, "trial": "3"}
    assert "--saved_params_dir=" in ctx.log_path.read_text()


def test_a_crashing_script_fails_with_its_log_kept(trainee, tmp_path: Path) -> None:
    script, _ = trainee
    ctx = _ctx(tmp_path)
    with pytest.raises(TrialError, match="exited with code 1") as info:
        ScriptTrial(script, ["--crash_at=16"]).run(ctx)
    assert info.value.log_path == str(ctx.log_path)
    log = ctx.log_path.read_text()
    assert "Traceback" in log and "ValueError: simulated crash" in log


def test_a_script_that_reports_nothing_fails(trainee, tmp_path: Path) -> None:
    script, _ = trainee
    ctx = _ctx(tmp_path)
    ctx.result_path.write_text('{"metric": 1.0, "trial": "3"}')  # left over from an earlier attempt
    with pytest.raises(TrialError, match=r"without reporting a metric; call finehub.autotune.report"):
        ScriptTrial(script, ["--silent_at=16"]).run(ctx)


def test_a_script_running_too_long_is_stopped(trainee, tmp_path: Path) -> None:
    script, _ = trainee
    with pytest.raises(TrialError, match="longer than 0.5 s"):
        ScriptTrial(script, ["--sleep=30"], timeout=0.5).run(_ctx(tmp_path))


def test_missing_script_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file"):
        ScriptTrial(tmp_path / "nope.py")


def test_report_writes_the_result_file_only_under_autotune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REPORT_ENV, raising=False)
    report(0.5)  # a script run by hand: nothing to write, no error
    target = tmp_path / "r.json"
    monkeypatch.setenv(REPORT_ENV, str(target))
    monkeypatch.setenv(TRIAL_ENV, "9")
    report_final_result(0.25)
    assert json.loads(target.read_text()) == {"metric": 0.25, "trial": "9"}
    with pytest.raises(TrialError, match="needs a number"):
        report("high")


def test_callable_trials_return_or_report(tmp_path: Path) -> None:
    assert CallableTrial(lambda p, ctx: p["batch_size"] * 2).run(_ctx(tmp_path, 1)) == 32

    def via_ctx(p: dict, ctx: TrialContext) -> None:
        ctx.report(0.1)
        report(0.7)  # the module-level report reaches the running callable's context

    assert CallableTrial(via_ctx).run(_ctx(tmp_path, 2)) == 0.7
    with pytest.raises(TrialError, match="returned None and reported nothing"):
        CallableTrial(lambda p, ctx: None).run(_ctx(tmp_path, 3))
    with pytest.raises(TrialError, match="metric is nan"):
        CallableTrial(lambda p, ctx: float("nan")).run(_ctx(tmp_path, 4))
    with pytest.raises(ConfigError, match="callable or a script"):
        CallableTrial(42)  # type: ignore[arg-type]
