"""A few Prometheus metrics, rendered in the text exposition format (version 0.0.4).

Counters and histograms keyed by label values; thread-safe because batch sizes are reported from
inference threads. Each uvicorn worker keeps its own numbers: scrape workers separately or run one.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, help_: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labelnames = name, help_, tuple(labels)
        self._values: dict[tuple[str, ...], float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] += amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def samples(self) -> dict[tuple[str, ...], float]:
        with self._lock:
            return dict(self._values)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            for labels, value in sorted(self._values.items()):
                lines.append(f"{self.name}{_labels(self.labelnames, labels)} {_num(value)}")
        return lines


class Gauge(Counter):
    def set(self, *labels: str, value: float) -> None:
        with self._lock:
            self._values[labels] = value

    def render(self) -> list[str]:
        lines = super().render()
        lines[1] = f"# TYPE {self.name} gauge"
        return lines


class Histogram:
    def __init__(self, name: str, help_: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.help, self.labelnames = name, help_, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        # per label tuple: counts per bucket (non-cumulative, last = +Inf), sum
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = defaultdict(float)
        self._lock = threading.Lock()

    def observe(self, *labels: str, value: float) -> None:
        with self._lock:
            counts = self._counts.setdefault(labels, [0] * (len(self.buckets) + 1))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sums[labels] += value

    def count(self, *labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(labels, ()))

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for labels, counts in sorted(self._counts.items()):
                running = 0
                for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                    running += n
                    le = "+Inf" if bound == float("inf") else _num(bound)
                    bucket_labels = _labels(self.labelnames, labels, 'le="' + le + '"')
                    lines.append(f"{self.name}_bucket{bucket_labels} {running}")
                lines.append(f"{self.name}_sum{_labels(self.labelnames, labels)} {_num(self._sums[labels])}")
                lines.append(f"{self.name}_count{_labels(self.labelnames, labels)} {running}")
        return lines


class ServingMetrics:
    """The metrics the server exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "finehub_requests_total",
            "Prediction requests answered, by module, method and HTTP status.",
            ("module", "method", "status"),
        )
        self.errors = Counter(
            "finehub_errors_total",
            "Prediction requests that failed, by module and kind of error.",
            ("module", "kind"),
        )
        self.latency = Histogram(
            "finehub_request_duration_seconds",
            "Time from request to answer for predictions.",
            ("module", "method"),
            LATENCY_BUCKETS,
        )
        self.batch_items = Histogram(
            "finehub_batch_size_items",
            "Input items per call of a module method (after micro-batching).",
            ("module", "method"),
            BATCH_BUCKETS,
        )
        self.batch_requests = Histogram(
            "finehub_batch_size_requests",
            "Requests merged into one call of a module method.",
            ("module", "method"),
            BATCH_BUCKETS,
        )
        self.module_ready = Gauge(
            "finehub_module_ready", "1 once a module is loaded and serving.", ("module",)
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.requests,
            self.errors,
            self.latency,
            self.batch_items,
            self.batch_requests,
            self.module_ready,
        ):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
