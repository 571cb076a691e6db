"""A run killed with SIGKILL at random moments, then restarted, must end bit-identical to a run
that was never interrupted: same weights (torch.equal), same metrics, same logged losses."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("finetune_support.py")


def start(run_dir: Path, delay: float, kind: str = "text") -> subprocess.Popen:
    env = {**os.environ, "FINEHUB_TEST_STEP_DELAY": str(delay)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(run_dir), kind],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def logged_step(run_dir: Path) -> int:
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["step"] for line in lines[-3:] if line.endswith("}")]
    return max(steps, default=0)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def records(run_dir: Path, event: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    out = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in out if r["event"] == event]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "steps"), [("text", 96), ("cached", 96), ("detection", 16)])
def test_killed_runs_resume_to_identical_weights_and_metrics(tmp_path, request, kind: str, steps: int):
    if kind == "detection":
        request.getfixturevalue("human_models")  # the pretrained NanoDet's weights
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    ref_out = start(reference, 0.0, kind)

    kills = sorted(rng.sample(range(2, steps - 1), 2))  # two kills, at random steps of the run
    for target in kills:
        proc = start(killed, 0.03, kind)
        while logged_step(killed) < target and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.random() * 0.03)  # anywhere inside the step, checkpoint writes included
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, (
            f"seed {seed}: the run ended before the kill at step {target}"
        )
        assert not any(
            r["event"] == "test" for r in map(json.loads, (killed / "metrics.jsonl").read_text().splitlines())
        )
    resumed = finish(start(killed, 0.0, kind))
    expected = finish(ref_out)

    msg = f"seed {seed}, kills at steps {kills}"
    assert expected.pop("resumed_from") is None
    resumed_from = resumed.pop("resumed_from")
    assert resumed_from is not None or kills[-1] < 4, msg  # a checkpoint is written every 3 steps
    assert resumed == expected, msg
    for name in ("best_model/model.safetensors",):
        a, b = load_file(str(reference / name)), load_file(str(killed / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), msg
    last_a = torch.load(next((reference / "checkpoints").glob("*.pt")), weights_only=True)["model"]
    last_b = torch.load(next((killed / "checkpoints").glob("*.pt")), weights_only=True)["model"]
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a), msg
    assert records(killed, "train") == records(reference, "train"), msg
    assert records(killed, "eval") == records(reference, "eval"), msg
