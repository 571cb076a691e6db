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


@pytest.mark.slow
def test_recipe_builds_a_module_that_runs_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "FINEHUB_HOME": str(tmp_path / "home")}
    recipe = [
        sys.executable,
        "-m",
        "finehub.demo",
        "--run-dir",
        str(tmp_path / "run"),
        "--export-name",
        "sentiment-zh",
        "--train-size",
        "480",
        "--dev-size",
        "64",
        "--test-size",
        "200",
        "--max-seq-len",
        "48",
        "--minutes",
        "6",
    ]
    subprocess.run(recipe, env=env, check=True, capture_output=True, text=True, timeout=1200)
    [test] = [
        r
        for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
        if r["event"] == "test"
    ]
    assert test["accuracy"] >= 0.65, test  # 15 steps on 480 reviews; the majority class is 52 %

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
