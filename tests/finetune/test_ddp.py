"""Data-parallel fine-tuning under torchrun (2 CPU processes, gloo) against one process: the same
steps, metrics and checkpoints, files written by rank 0 only, and resume across launch modes.

Dropout is off in these runs (see ddp_support.py), so both runs compute the same gradients up to
the order of floating-point sums: weights agree to ~1e-5, dev/test classification metrics exactly,
and losses to a relative 1e-5.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_support.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
EXACT = ("accuracy", "macro_f1", "precision", "recall", "confusion_matrix")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(run_dir: Path, processes: int) -> dict:
    launcher = (
        ["-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-port", str(free_port())]
        if processes > 1
        else []
    )
    proc = subprocess.run(
        [sys.executable, *launcher, str(SCRIPT), str(run_dir)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def writes(run_dir: Path, rank: int) -> list[str]:
    return json.loads(run_dir.with_name(f"{run_dir.name}.writes-rank{rank}.json").read_text())


def train_losses(run_dir: Path) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["event"] == "train"]


def assert_same_result(a: dict, b: dict) -> None:
    assert (a["steps"], a["best_step"]) == (b["steps"], b["best_step"])
    for split in ("best_dev", "test"):
        assert {k: a[split][k] for k in EXACT} == {k: b[split][k] for k in EXACT}, split
        assert a[split]["loss"] == pytest.approx(b[split]["loss"], rel=1e-5), split


@pytest.mark.slow
def test_two_processes_match_one_and_only_rank_0_writes(tmp_path):
    import torch
    from safetensors.torch import load_file

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    expected, got = run(single, 1), run(ddp, 2)

    assert_same_result(got, expected)
    assert got["best_dev"]["accuracy"] > 0.6  # it learned something, so equality means something
    steps_a, losses_a = zip(*train_losses(single), strict=True)
    steps_b, losses_b = zip(*train_losses(ddp), strict=True)
    assert steps_a == steps_b and losses_b == pytest.approx(losses_a, rel=1e-5)
    a = load_file(str(single / "best_model/model.safetensors"))
    b = load_file(str(ddp / "best_model/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)

    files = sorted(str(p.relative_to(ddp)) for p in ddp.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(single)) for p in single.rglob("*") if p.is_file())
    assert writes(ddp, 0) and not writes(ddp, 1)
    ckpt = torch.load(ddp / "checkpoints/step-00000048.pt", weights_only=True)
    assert len(ckpt["rng_ranks"]) == 2


@pytest.mark.slow
def test_a_single_process_run_resumes_under_torchrun(tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    expected = run(reference, 1)
    shutil.copytree(reference, resumed)
    for ckpt in resumed.glob("checkpoints/*.pt"):
        if int(ckpt.stem.split("-")[1]) > 24:
            ckpt.unlink()

    got = run(resumed, 2)

    assert got.pop("resumed_from") == 24 and expected.pop("resumed_from") is None
    assert_same_result(got, expected)
    steps_a, losses_a = zip(*train_losses(reference), strict=True)
    steps_b, losses_b = zip(*train_losses(resumed), strict=True)
    assert steps_a == steps_b and losses_b == pytest.approx(losses_a, rel=1e-5)
