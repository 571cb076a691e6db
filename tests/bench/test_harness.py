"""The benchmark harness: alternation order, medians and rates, ratios, targets, JSON layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finehub.bench.finetune import StepClock, flop_per_sample
from finehub.bench.harness import (
    SCHEMA,
    BenchResult,
    Contender,
    Figure,
    Work,
    alternate,
    format_value,
    machine_info,
    ratio,
    render_table,
    write_json,
)
from finehub.errors import ConfigError


class FakeClock:
    """Time advances only when a contender says it worked, so medians are exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sleeper(
    name: str, clock: FakeClock, durations: list[float], log: list[str], counts: dict | None = None
) -> Contender:
    """A contender taking ``durations[i]`` fake seconds on its i-th call (warm-up included)."""
    calls = iter(durations)

    def go():
        log.append(name)
        clock.now += next(calls)
        return counts

    return Contender(name, go)


def test_contenders_alternate_after_a_warmup_round() -> None:
    log: list[str] = []
    clock = FakeClock()
    a = sleeper("A", clock, [9.0, 1, 1, 1], log)
    b = sleeper("B", clock, [9.0, 2, 2, 2], log)
    stats = alternate([a, b], repeats=3, warmup=1, clock=clock)
    assert log == ["A", "B"] * 4
    assert [s.seconds for s in stats] == [[1, 1, 1], [2, 2, 2]]  # warm-up not timed


def test_median_rate_and_ratio() -> None:
    clock = FakeClock()
    fast = sleeper("fast", clock, [1.0, 5.0, 1.0, 2.0], [], {"items": 10})
    slow = sleeper("slow", clock, [2.0, 4.0, 100.0, 4.0], [], {"items": 10})
    stats = alternate([fast, slow], repeats=4, warmup=0, clock=clock)
    by = {s.name: s for s in stats}
    assert by["fast"].median_s == 1.5 and by["slow"].median_s == 4.0
    assert by["fast"].rate("items") == pytest.approx(7.5)  # median of 10, 2, 10, 5
    assert by["slow"].rate("items") == pytest.approx(2.5)  # median of 5, 2.5, 0.1, 2.5
    by_rate = ratio(stats, "fast", "slow", unit="items")
    assert by_rate.value == pytest.approx(3.0) and by_rate.best == pytest.approx(10 / 5)  # fastest reps
    by_time = ratio(stats, "fast", "slow")  # same work: inverse seconds
    assert by_time.value == pytest.approx(4.0 / 1.5) and by_time.best == pytest.approx(2.0 / 1.0)


def test_work_seconds_replace_the_wall_time() -> None:
    clock = FakeClock()

    def go() -> Work:
        clock.now += 10.0  # setup the contender does not want counted
        return Work({"steps": 4}, seconds=2.0)

    (stats,) = alternate([Contender("trainer", go)], repeats=2, warmup=0, clock=clock)
    assert stats.seconds == [2.0, 2.0] and stats.rate("steps") == 2.0


@pytest.mark.parametrize(
    ("value", "target", "comparison", "met"),
    [
        (3.6, 3.5, ">=", True),
        (3.4, 3.5, ">=", False),
        (0.4, 0.5, "<=", True),
        (0.6, 0.5, "<=", False),
        (1.0, None, ">=", None),
    ],
)
def test_figure_targets(value, target, comparison, met) -> None:
    assert Figure("f", value, "x", target, comparison).met is met


def test_bad_arguments_are_config_errors() -> None:
    c = Contender("same", lambda: None)
    with pytest.raises(ConfigError, match="unique"):
        alternate([c, c])
    with pytest.raises(ConfigError, match="repeats"):
        alternate([c], repeats=0)


def test_json_layout_and_tables(tmp_path: Path) -> None:
    clock = FakeClock()
    stats = alternate(
        [
            sleeper("base", clock, [1.0] * 6, [], {"samples": 8}),
            sleeper("new", clock, [0.5] * 6, [], {"samples": 8}),
            sleeper("peak", clock, [0.1] * 6, [], {"gflop": 2}),  # another unit: shown without a rate
        ],
        repeats=5,
        clock=clock,
    )
    result = BenchResult(
        "demo",
        "Demo",
        stats,
        [ratio(stats, "new", "base", unit="samples", target=1.5), Figure("help", 0.4, "s", 0.5, "<=")],
        params={"repeats": 5},
        machine=machine_info(threads=2),
        rate_unit="samples",
        baseline="base",
    )
    path = write_json(result, tmp_path / "results")
    assert path == tmp_path / "results" / "demo.json"
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["name"] == "demo" and data["baseline"] == "base"
    assert {"cpu", "cpu_flags", "torch", "torch_threads", "date", "logical_cpus"} <= set(data["machine"])
    assert data["machine"]["torch_threads"] == 2
    new = next(c for c in data["contenders"] if c["name"] == "new")
    assert new["seconds"] == [0.5] * 5 and new["median_s"] == 0.5
    assert new["counts"] == {"samples": 8} and new["rates"] == {"samples_per_s": 16.0}
    assert [(f["name"], f["value"], f["best"], f["met"]) for f in data["figures"]] == [
        ("new / base", 2.0, 2.0, True),
        ("help", 0.4, None, True),
    ]
    tables = render_table(result)
    assert len(tables) == 2 and tables[0].row_count == 3 and tables[1].row_count == 2


def test_machine_info_reads_cpu_flags_from_proc() -> None:
    info = machine_info()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split()
        assert info["cpu_flags"] == [
            f
            for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
            if f in flags
        ]
        assert info["cpu"]


def test_step_clock_times_only_the_steps_after_warmup(monkeypatch) -> None:
    times = iter([10.0, 13.0])
    monkeypatch.setattr("finehub.bench.finetune.time.perf_counter", lambda: next(times))
    clock = StepClock(warmup=2, steps=3)
    for step in range(1, 6):
        clock.tick(step)  # reads the clock at step 2 and step 5 only
    work = clock.work()
    assert work.seconds == 3.0 and work.counts == {"samples": 3 * 32}


def test_training_flops_formula() -> None:
    # two examples of 10 and 20 tokens, N=1000 weights, 2 layers of width 4
    expected = ((6 * 1000 * 10 + 12 * 2 * 4 * 100) + (6 * 1000 * 20 + 12 * 2 * 4 * 400)) / 2
    assert flop_per_sample([10, 20], non_embedding_params=1000, layers=2, hidden=4) == expected


def test_values_print_readably() -> None:
    assert format_value(11430.0, "reviews") == "11,430 reviews"  # a count, not 1.143e+04
    assert format_value(405.5, "s") == "405.5 s"
    assert format_value(1.943, "x") == "1.94x" and format_value(86.29, "%") == "86.3%"
    assert (
        format_value(float("nan"), "s") == "nan s" and format_value(float("inf"), "reviews") == "inf reviews"
    )
