"""Pieces of the benchmarks that decide what is measured: contenders per CPU kind, the peak a
training rate is divided by, and the Paddle worker's protocol."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from finehub.bench import classify, demo, finetune, matmul
from finehub.bench.harness import ContenderStats, cpu_kind, kind_folder, results_folder


def test_bf16_contenders_run_only_where_finehub_trains_in_bf16() -> None:
    assert finetune.contender_names(finetune.FULL, "bf16") == list(finetune.FULL.contenders)
    fp32 = finetune.contender_names(finetune.FULL, "fp32")
    assert finetune.HF_BF16 not in fp32 and finetune.FH_BF16 not in fp32
    assert finetune.FH_FP32 in fp32 and finetune.HF_DEFAULT in fp32


def test_targets_exist_for_each_dataset_at_the_precision_run() -> None:
    assert {d for p, d in finetune.SPEED_TARGETS if p == "fp32"} == set(finetune.DATASETS)
    assert finetune.label(finetune.FH_FP32, "bbc-news") == "finehub Trainer fp32 · bbc-news"


def test_peak_is_torch_matmul_of_the_precision_asked() -> None:
    def stats(name: str, gflop_per_s: float) -> ContenderStats:
        return ContenderStats(name, "", [1.0], [{"gflop": gflop_per_s}])

    by = {
        s.name: s
        for s in (
            stats("fp32 1024²", 100.0),
            stats("fp32 ffn 4096×384×1536", 120.0),
            stats("fp32 ffn 4096×384×1536 MLAS", 500.0),  # another library: not torch's peak
            stats("bf16 1024²", 900.0),
        )
    }
    assert matmul.peak(by, "fp32") == 120.0
    assert matmul.peak(by, "bf16") == 900.0


def test_paddle_is_left_out_with_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(classify.PADDLE_ENV, raising=False)
    python, why = classify.paddle_python()
    assert python is None and classify.PADDLE_ENV in why
    monkeypatch.setenv(classify.PADDLE_ENV, str(tmp_path / "missing"))
    python, why = classify.paddle_python()
    assert python is None and "does not exist" in why


def test_paddle_worker_protocol(tmp_path: Path) -> None:
    """A stand-in for Paddle's Python that checks its arguments and answers like the worker."""
    fake = tmp_path / "python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "assert args[0].endswith('paddle_worker.py') and args[args.index('--threads') + 1] == '3'\n"
        "print(json.dumps({'ready': True, 'paddle': '9.9'}), flush=True)\n"
        "for n, line in enumerate(sys.stdin, 1):\n"
        "    print(json.dumps({'seconds': 0.5 * n, 'samples': 64}), flush=True)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    worker = classify.PaddleWorker(str(fake), tmp_path / "ids.npz", threads=3, num_classes=5)
    assert worker.info["paddle"] == "9.9"
    first, second = worker.run(), worker.run()
    assert (first.seconds, second.seconds) == (0.5, 1.0) and first.counts == {"texts": 64}
    worker.close()
    assert worker.proc.returncode == 0


def test_paddle_worker_that_dies_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(3)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(RuntimeError, match="status 3"):
        classify.PaddleWorker(str(fake), tmp_path / "ids.npz", threads=1, num_classes=2)


def test_cpu_kind_is_the_widest_matrix_extension() -> None:
    assert cpu_kind(["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]) == "avx512_bf16"
    assert cpu_kind(["avx2"]) == "avx2"
    assert cpu_kind(["avx2", "avx512f", "amx_tile", "amx_bf16"]) == "amx_bf16"
    assert cpu_kind([]) == "other"


def test_each_cpu_kind_and_instruction_cap_gets_its_own_results_folder(monkeypatch) -> None:
    bf16 = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert kind_folder("AMD EPYC 9B14", bf16, {}) == "epyc-avx512bf16"
    assert kind_folder("AMD EPYC", ["avx2"], {}) == "epyc-avx2"
    amx = [*bf16, "amx_tile", "amx_bf16"]
    xeon = "Intel(R) Xeon(R) Processor"
    assert kind_folder(xeon, amx, {}) == "xeon-amx"
    assert kind_folder(xeon, amx, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) == "xeon-amx-as-avx2"
    assert kind_folder("", [], {}) == "cpu-other"
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert results_folder("out").parent.name == "out"
    assert results_folder("out").name.endswith("-as-avx2")


def test_demo_outcome_is_read_from_its_run_folder(tmp_path: Path) -> None:
    records = [
        {"event": "train", "step": 5, "loss": 0.6},
        {"event": "eval", "step": 5, "accuracy": 0.8},
        {"event": "test", "step": 5, "accuracy": 0.8575},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "demo-train-size.json").write_text(json.dumps({"train_size": 9000, "reviews_per_s": 30.0}))
    accuracy, train_size = demo.outcome(tmp_path)
    assert accuracy == pytest.approx(85.75) and train_size == 9000
    (tmp_path / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n")
    with pytest.raises(RuntimeError, match="without a test evaluation"):
        demo.outcome(tmp_path)
