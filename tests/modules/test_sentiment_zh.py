"""sentiment-zh: built by finehub's own fine-tuning recipe (multilingual-e5-small on chinese-reviews),
then loaded, run and listed by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"


def run_demo(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[str, list[dict]]:
    """The demo on 64 dev and 200 test reviews into ``tmp_path / "run"``: its stdout and metrics."""
    recipe = [sys.executable, "-m", "finehub.demo", "--run-dir", str(tmp_path / "run"), "--dev-size", "64"]
    recipe += ["--test-size", "200", "--minutes", "6", *args]  # a later --minutes wins
    out = subprocess.run(recipe, env=env, check=True, capture_output=True, text=True, timeout=1200).stdout
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    return out, [json.loads(line) for line in metrics]


@pytest.mark.slow
def test_recipe_builds_a_module_that_runs_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "FINEHUB_HOME": str(tmp_path / "home")}
    _, records = run_demo(
        tmp_path, env, "--export-name", "sentiment-zh", "--train-size", "480", "--max-seq-len", "48"
    )
    [test] = [r for r in records if r["event"] == "test"]
    assert test["accuracy"] >= 0.65, test  # a head on 480 reviews' features; the majority class is 52 %

    listed = json.loads(
        subprocess.run(
            [FINEHUB, "list", "--json"], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    assert any(row["name"] == "sentiment-zh" and "local" in row["versions"] for row in listed)

    out = subprocess.run(
        [
            FINEHUB,
            "run",
            "sentiment-zh",
            "--input-text",
            "房间很干净，服务也好",
            "--input-text",
            "再也不会来了",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    preds = json.loads(out)
    assert len(preds) == 2
    for pred in preds:
        assert pred["label"] in {"negative", "positive"} and 0.5 <= pred["score"] <= 1.0


@pytest.mark.slow
def test_a_short_budget_still_encodes_the_minimum_and_trains_the_head_for_many_epochs(tmp_path: Path) -> None:
    """Half a minute covers fewer reviews than the minimum, so the demo encodes the minimum once with
    the frozen encoder and trains its head for many epochs on those features."""
    env = {**os.environ, "FINEHUB_HOME": str(tmp_path / "home")}
    out, records = run_demo(tmp_path, env, "--export-name", "zh-head", "--minutes", "0.5")
    assert "training reviews fit the budget" in out
    kept = json.loads((tmp_path / "run" / "demo-train-size.json").read_text())
    assert kept["train_size"] >= 1920
    [test] = [r for r in records if r["event"] == "test"]
    assert test["accuracy"] >= 0.78, test  # the frozen encoder's features carry the sentiment
    assert max(r["epoch"] for r in records if r["event"] == "train") > 1  # cached epochs are cheap
