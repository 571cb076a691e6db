"""The server's Prometheus metrics, kept by ``prometheus_client``.

One process: each app keeps its metrics in a registry of its own. Several uvicorn workers
(``finehub serve --workers N``) share one port, so a scrape reaches one worker at random; there
:func:`finehub.serving.server.serve` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before
the workers start, every worker writes its values there, and ``/metrics`` answers the sum over all
workers, finished ones included (counters and histograms keep what a dead worker counted; the
``module_ready`` gauge counts live workers only, and reads 1 once every one of them serves the module).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from finehub._utils.process import pid_alive

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


class ServingMetrics:
    """The metrics the server exports. Record with ``prometheus_client``'s API, e.g.
    ``requests.labels(module, method, status).inc()``."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiproc_dir = os.environ.get(MULTIPROC_ENV)
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "finehub_requests_total",
            "Prediction requests answered, by module, method and HTTP status.",
            ("module", "method", "status"),
            registry=reg,
        )
        self.errors = Counter(
            "finehub_errors_total",
            "Prediction requests that failed, by module and kind of error.",
            ("module", "kind"),
            registry=reg,
        )
        self.latency = Histogram(
            "finehub_request_duration_seconds",
            "Time from request to answer for predictions.",
            ("module", "method"),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.batch_items = Histogram(
            "finehub_batch_size_items",
            "Input items per call of a module method (after micro-batching).",
            ("module", "method"),
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self.batch_requests = Histogram(
            "finehub_batch_size_requests",
            "Requests merged into one call of a module method.",
            ("module", "method"),
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self.module_ready = Gauge(
            "finehub_module_ready",
            "1 once a module is loaded and serving.",
            ("module",),
            multiprocess_mode="livemin",
            registry=reg,
        )

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) of a scrape, in the format the ``Accept`` header asks for."""
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        return encode(self._collected()), content_type

    def _collected(self) -> CollectorRegistry:
        if self.multiproc_dir is None:
            return self.registry
        from prometheus_client import CollectorRegistry, multiprocess

        _forget_dead_workers(self.multiproc_dir)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        return registry


def _forget_dead_workers(folder: str) -> None:
    """``mark_process_dead`` for every worker that left live-gauge files and has exited (uvicorn
    restarts a crashed worker under a new pid and has no hook to report the old one)."""
    from prometheus_client import multiprocess

    for path in Path(folder).iterdir():
        match = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if match and not pid_alive(int(match[1])):
            multiprocess.mark_process_dead(int(match[1]), folder)
