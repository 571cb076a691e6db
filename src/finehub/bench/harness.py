"""The benchmark harness: alternating runs, medians, ratios, machine info, JSON and tables.

A benchmark builds its contenders once (models loaded, data tokenised), then :func:`alternate`
runs them in turn — warm-up A B, then A B A B ... — so that a machine shared with other work
slows every contender alike. Figures are ratios between contenders measured in the same
alternation, which survive noise far better than lone absolute seconds.

A contender is a callable doing one repetition of work. It returns the units of work done
(``{"samples": 640, "tokens": 80000}``) as a :class:`Work`, a plain mapping, or ``None``; a
:class:`Work` may also carry the seconds the contender timed itself, when only part of the call
is the work being measured (e.g. optimizer steps after a trainer's own setup).

JSON layout (``SCHEMA``)::

    {"schema", "name", "title", "date", "duration_s", "params", "machine",
     "contenders": [{"name", "note", "seconds": [..], "median_s", "min_s", "max_s",
                     "counts": {unit: median}, "rates": {unit + "_per_s": median}}],
     "figures": [{"name", "value", "unit", "target", "comparison", "met", "note", "best"}],
     "notes": [..]}
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from finehub._utils.fs import atomic_write_json
from finehub.errors import ConfigError
from finehub.nn.device import bf16_supported

if TYPE_CHECKING:
    from rich.table import Table

SCHEMA = "finehub-bench/1"

# CPU features that decide which precisions are fast; recorded when /proc/cpuinfo lists them
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
# variables capping the instructions torch, oneDNN and MKL use: a wide CPU measuring for a narrower one
ISA_LIMIT_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
RESULTS_ROOT = Path("benchmarks/results")
# cpu_kind -> the kind's part of a results folder name
_KIND_FOLDER = {"amx_bf16": "amx", "avx512_bf16": "avx512bf16", "avx512f": "avx512", "avx2": "avx2"}

Comparison = Literal[">=", "<="]


@dataclass(frozen=True)
class Work:
    """What one repetition did: units of work, and optionally the seconds it timed itself."""

    counts: Mapping[str, float] = field(default_factory=dict)
    seconds: float | None = None


@dataclass(frozen=True)
class Contender:
    name: str
    run: Callable[[], Work | Mapping[str, float] | None]
    note: str = ""


@dataclass
class ContenderStats:
    """Per-repetition seconds and work of one contender; rates are medians of per-repetition rates."""

    name: str
    note: str
    seconds: list[float]
    counts_per_rep: list[dict[str, float]]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    def best_rate(self, unit: str) -> float:
        """The fastest repetition's ``unit`` per second."""
        return max(c[unit] / s for c, s in zip(self.counts_per_rep, self.seconds, strict=True))

    def has(self, unit: str) -> bool:
        return all(unit in c for c in self.counts_per_rep)

    def rate(self, unit: str) -> float:
        """Median over repetitions of ``unit`` per second."""
        return statistics.median(c[unit] / s for c, s in zip(self.counts_per_rep, self.seconds, strict=True))

    def to_dict(self) -> dict[str, Any]:
        units = sorted({u for c in self.counts_per_rep for u in c})
        return {
            "name": self.name,
            "note": self.note,
            "seconds": [round(s, 6) for s in self.seconds],
            "median_s": self.median_s,
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "counts": {u: statistics.median(c.get(u, 0.0) for c in self.counts_per_rep) for u in units},
            "rates": {f"{u}_per_s": self.rate(u) for u in units},
        }


@dataclass(frozen=True)
class Figure:
    """A derived number (ratio, fraction of peak, parity), with the target it should meet if any."""

    name: str
    value: float
    unit: str = "x"
    target: float | None = None
    comparison: Comparison = ">="
    note: str = ""
    best: float | None = None  # for ratios: the ratio of the fastest repetitions

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.comparison == ">=" else self.value <= self.target


@dataclass
class BenchResult:
    name: str
    title: str
    contenders: list[ContenderStats]
    figures: list[Figure] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    date: str = ""
    duration_s: float = 0.0
    rate_unit: str | None = None  # the unit whose rate the table shows, e.g. "samples"
    baseline: str | None = None  # the contender others are compared to in the table (default: the first)

    def contender(self, name: str) -> ContenderStats:
        for c in self.contenders:
            if c.name == name:
                return c
        raise KeyError(f"no contender {name!r} in benchmark {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "title": self.title,
            "date": self.date,
            "duration_s": round(self.duration_s, 3),
            "params": self.params,
            "machine": self.machine,
            "rate_unit": self.rate_unit,
            "baseline": self.baseline or self.contenders[0].name,
            "contenders": [c.to_dict() for c in self.contenders],
            "figures": [{**asdict(f), "met": f.met} for f in self.figures],
            "notes": list(self.notes),
        }


def alternate(
    contenders: Sequence[Contender],
    *,
    repeats: int = 5,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> list[ContenderStats]:
    """Run ``warmup`` untimed rounds, then ``repeats`` timed rounds; each round calls every
    contender once, in the given order. Returns one :class:`ContenderStats` per contender."""
    if repeats < 1 or warmup < 0:
        raise ConfigError("repeats/warmup", f"need repeats >= 1 and warmup >= 0, got {repeats}/{warmup}")
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise ConfigError("contenders", f"names must be unique, got {names}")
    for _ in range(warmup):
        for c in contenders:
            c.run()
    stats = [ContenderStats(c.name, c.note, [], []) for c in contenders]
    for _ in range(repeats):
        for c, st in zip(contenders, stats, strict=True):
            start = clock()
            work = _as_work(c.run())
            elapsed = clock() - start
            st.seconds.append(work.seconds if work.seconds is not None else elapsed)
            st.counts_per_rep.append({k: float(v) for k, v in work.counts.items()})
    return stats


def _as_work(value: Work | Mapping[str, float] | None) -> Work:
    if value is None:
        return Work()
    return value if isinstance(value, Work) else Work(counts=dict(value))


def ratio(
    stats: Sequence[ContenderStats],
    numerator: str,
    denominator: str,
    *,
    unit: str | None = None,
    name: str | None = None,
    target: float | None = None,
    note: str = "",
) -> Figure:
    """How many times faster ``numerator`` is than ``denominator``: a ratio of median rates of
    ``unit``, or of median seconds (inverted) when ``unit`` is None (same work per repetition).

    ``best`` is the same ratio between the two contenders' fastest repetitions: on a busy machine
    noise only ever adds time, so it shows what the medians may blur."""
    by_name = {s.name: s for s in stats}
    num, den = by_name[numerator], by_name[denominator]
    if unit:
        value, best = num.rate(unit) / den.rate(unit), num.best_rate(unit) / den.best_rate(unit)
    else:
        value, best = den.median_s / num.median_s, min(den.seconds) / min(num.seconds)
    return Figure(name or f"{numerator} / {denominator}", value, "x", target, ">=", note, best=best)


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """What the figures depend on: CPU model and features, cores, torch and its threads, load, date."""
    import torch

    cpu = _cpuinfo()
    flags = _flags(cpu)
    info: dict[str, Any] = {
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_kind": cpu_kind(flags),
        "cpu_flags": flags,
        "isa_limits": isa_limits(),
        # PASSIVE keeps OpenMP threads from spinning, which on a machine shared with other work
        # decides the speed more than the code measured does
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_bf16_cpu": bf16_supported(torch.device("cpu")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": load_average(),
        "date": now_iso(),
    }
    for pkg in ("transformers", "sentence_transformers", "finehub"):
        info[pkg] = _version(pkg)
    return info


def cpu_kind(flags: Sequence[str]) -> str:
    """The widest matrix instructions among ``flags``: what decides which precisions are fast
    (results are reported per kind)."""
    for kind in ("amx_bf16", "avx512_bf16", "avx512f", "avx2"):
        if kind in flags:
            return kind
    return "other"


def isa_limits() -> dict[str, str]:
    """The ``ISA_LIMIT_ENV`` variables set in this process."""
    return {var: os.environ[var] for var in ISA_LIMIT_ENV if os.environ.get(var)}


def kind_folder(model: str, flags: Sequence[str], limits: Mapping[str, str]) -> str:
    """``<family>-<kind>[-as-<limit>]``, e.g. ``epyc-avx512bf16``, ``xeon-amx-as-avx2``: the CPU
    family (the model name's first word naming one), its :func:`cpu_kind`, and the first
    instruction-set cap in force, so that each kind keeps its own results."""
    words = [w for w in model.lower().replace("(r)", " ").replace("(tm)", " ").split() if w.isalnum()]
    family = next((w for w in words if w in ("epyc", "xeon", "ryzen", "core")), words[0] if words else "cpu")
    folder = f"{family}-{_KIND_FOLDER.get(cpu_kind(flags), 'other')}"
    limit = next((limits[var] for var in ISA_LIMIT_ENV if limits.get(var)), None)
    return f"{folder}-as-{limit.lower()}" if limit else folder


def results_folder(root: str | Path = RESULTS_ROOT) -> Path:
    """``root``'s folder for this machine's CPU kind (see :func:`kind_folder`)."""
    cpu = _cpuinfo()
    return Path(root) / kind_folder(cpu.get("model name") or platform.machine(), _flags(cpu), isa_limits())


def load_average() -> float | None:
    """The 1-minute load average: how busy the (shared) machine was."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo (empty off Linux)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, _, value = line.partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def _flags(cpu: Mapping[str, str]) -> list[str]:
    """The ``CPU_FLAGS`` a /proc/cpuinfo block lists."""
    listed = cpu.get("flags", "").split()
    return [f for f in CPU_FLAGS if f in listed]


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


def write_json(result: BenchResult, folder: str | Path) -> Path:
    """Write ``<folder>/<name>.json`` atomically; returns its path."""
    path = Path(folder) / f"{result.name}.json"
    atomic_write_json(path, result.to_dict())
    return path


def render_table(result: BenchResult) -> list[Table]:
    """A rich table of the contenders (median, spread, rate, speed relative to the first) and
    one of the figures with their targets. Building only; the caller prints."""
    from rich.table import Table

    unit = result.rate_unit
    base = result.contender(result.baseline) if result.baseline else result.contenders[0]
    table = Table(title=result.title, title_justify="left")
    table.add_column("contender", no_wrap=True)
    table.add_column("median s", justify="right")
    table.add_column("min–max s", justify="right")
    if unit:
        table.add_column(f"{unit}/s", justify="right")
    table.add_column(f"vs {base.name}", justify="right")
    table.add_column("note", overflow="fold")
    for c in result.contenders:
        row = [c.name, f"{c.median_s:.4g}", f"{min(c.seconds):.4g}–{max(c.seconds):.4g}"]
        if not unit:
            row.append(f"{base.median_s / c.median_s:.2f}x")
        elif c.has(unit):
            row += [f"{c.rate(unit):,.4g}", f"{c.rate(unit) / base.rate(unit):.2f}x"]
        else:  # a reference contender measuring another unit (e.g. a matmul peak among trainers)
            row += ["", ""]
        table.add_row(*row, c.note)
    tables = [table]
    if result.figures:
        figs = Table(title=f"{result.title}: figures", title_justify="left")
        for col in ("figure", "value", "best reps", "target", "met", "note"):
            figs.add_column(col, overflow="fold", justify="left" if col in ("figure", "note") else "right")
        for f in result.figures:
            target = "" if f.target is None else f"{f.comparison} {format_value(f.target, f.unit)}"
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[f.met]
            best = "" if f.best is None else format_value(f.best, f.unit)
            figs.add_row(f.name, format_value(f.value, f.unit), best, target, met, f.note)
        tables.append(figs)
    return tables


def format_value(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.1f}%"
    if not unit:
        return f"{value:.5f}"
    if float(value).is_integer() and abs(value) >= 1e4:  # counts: 11,430 reviews, not 1.143e+04
        return f"{value:,.0f} {unit}"
    return f"{value:.4g} {unit}".rstrip()
