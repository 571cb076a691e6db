"""The list of benchmarks, and running one with its machine info filled in.

A benchmark is a module exposing ``run(*, quick: bool, threads: int) -> BenchResult``; it is
imported only when run, so listing benchmarks stays cheap. Scripts in the repository's
``benchmarks/`` folder that measure other parts of finehub (``EXTERNAL_SCRIPTS``, each with a
``main()`` and its own defaults) run in their own process after the built-in ones, in the full
``all`` run only.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from finehub.bench.harness import BenchResult, load_average, machine_info, now_iso
from finehub.errors import ConfigError

DEFAULT_THREADS = 2  # the product plan's figures are for two threads
# a 1-minute load above this many runnable threads per CPU (the benchmark's own included) means others
# were competing for the CPUs during the run
BUSY_LOAD_PER_CPU = 1.5


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str
    module: str
    in_quick: bool = True  # part of `bench all --quick`


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("startup", "`import finehub` and `finehub --help` wall time", "finehub.bench.startup"),
    Benchmark(
        "matmul",
        "bf16 vs fp32 matmul GFLOP/s, and fp32 GEMM libraries (MKL, oneDNN, OpenBLAS, MLAS)",
        "finehub.bench.matmul",
    ),
    Benchmark(
        "embed", "minilm-l6 embed vs sentence-transformers encode, with cosine parity", "finehub.bench.embed"
    ),
    Benchmark(
        "finetune",
        "MiniLM-L6 fine-tuning samples/s on chinese-reviews and bbc-news: finehub vs transformers",
        "finehub.bench.finetune",
    ),
    Benchmark(
        "classify",
        "fine-tuned classifier inference: eager vs ONNX Runtime fp32/int8 (vs Paddle Inference if set up)",
        "finehub.bench.classify",
    ),
    Benchmark(
        "parity",
        "bf16 vs fp32 fine-tune dev accuracy on the same seed and data",
        "finehub.bench.parity",
        in_quick=False,
    ),
    Benchmark(
        "demo",
        "`make demo` wall time and test accuracy (one run, about 6 minutes)",
        "finehub.bench.demo",
        in_quick=False,
    ),
)

# benchmarks/<file> scripts run as `python FILE` (no arguments) in the full `all` run
EXTERNAL_SCRIPTS = ("serving_load.py",)


def get(name: str) -> Benchmark:
    for bm in BENCHMARKS:
        if bm.name == name:
            return bm
    names = ", ".join(b.name for b in BENCHMARKS)
    raise ConfigError("benchmark", f"no benchmark named {name!r}; choose one of: {names}, or all")


def selected(name: str, *, quick: bool) -> list[Benchmark]:
    """``name``'s benchmark, or for ``all`` every benchmark (those marked for it when ``quick``)."""
    if name == "all":
        return [b for b in BENCHMARKS if b.in_quick or not quick]
    return [get(name)]


def run(bm: Benchmark, *, quick: bool, threads: int = DEFAULT_THREADS) -> BenchResult:
    """Run ``bm`` on ``threads`` torch threads; returns its result with machine info, date and duration."""
    import torch

    if threads < 1:
        raise ConfigError("threads", f"must be a positive integer, got {threads}")
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers would otherwise fork a thread pool
    hf_logging.disable_progress_bar()  # weight-loading bars between the tables
    date, start, load_before = now_iso(), time.perf_counter(), load_average()
    result = importlib.import_module(bm.module).run(quick=quick, threads=threads)
    machine = machine_info(threads)
    machine["load_avg_1m"] = {"before": load_before, "after": machine["load_avg_1m"]}
    result.machine = machine
    result.date, result.duration_s = date, time.perf_counter() - start
    busiest = max((x for x in (load_before, machine["load_avg_1m"]["after"]) if x is not None), default=0.0)
    if busiest > BUSY_LOAD_PER_CPU * machine["usable_cpus"]:
        result.notes.append(
            f"the machine was busy (load {busiest:.1f} on {machine['usable_cpus']} CPUs): every contender waited "
            "for CPU time, which pulls ratios towards 1; 'best reps' compares the fastest repetitions. "
            "Rerun on an idle machine for the real figures."
        )
    result.params = {"quick": quick, "threads": threads, **result.params}
    return result


def external_scripts(root: str | Path = ".") -> list[Path]:
    """The ``EXTERNAL_SCRIPTS`` present in ``root/benchmarks`` (a repository checkout)."""
    folder = Path(root) / "benchmarks"
    return [folder / name for name in EXTERNAL_SCRIPTS if (folder / name).is_file()]


def run_script(script: Path) -> int:
    """Run an external benchmark script in its own process (its output goes to this terminal)."""
    return subprocess.run([sys.executable, str(script)]).returncode
