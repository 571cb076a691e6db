"""Running the server in the foreground, and stopping it from another shell.

``serve`` records its pid in ``FINEHUB_HOME/serving/<port>.pid`` for as long as it runs; ``stop``
sends that process SIGTERM, on which uvicorn stops accepting connections, lets in-flight requests
finish (up to the request timeout) and exits. With ``workers > 1`` the recorded pid is uvicorn's
supervisor, which forwards the signal to every worker, and the workers keep their Prometheus values
in ``FINEHUB_HOME/serving/<port>.metrics/`` (emptied at start, removed at exit) so that ``/metrics``
sums them (see :mod:`finehub.serving.metrics`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import time
from pathlib import Path

from finehub._utils import paths
from finehub._utils.fs import atomic_write_text
from finehub._utils.process import pid_alive
from finehub.errors import ServerStateError, ServingConfigError
from finehub.serving.config import CONFIG_ENV, ServingConfig
from finehub.serving.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)


def pid_file(port: int) -> Path:
    return paths.home() / "serving" / f"{port}.pid"


def metrics_dir(port: int) -> Path:
    return paths.home() / "serving" / f"{port}.metrics"


def running_pid(port: int) -> int | None:
    """The pid recorded for ``port`` if that process is alive; a stale record is removed."""
    path = pid_file(port)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if pid_alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def check_modules(config: ServingConfig) -> None:
    """Fail before starting when a module name or version is unknown (loading happens per worker)."""
    from finehub.hub.loader import resolve, split_requirement

    if not config.modules_info:
        raise ServingConfigError(
            "modules_info", "no module to serve; pass -m NAME or list modules in -c FILE"
        )
    for name, cfg in config.modules_info.items():
        resolve(*split_requirement(name, cfg.version))


def serve(config: ServingConfig, *, access_log: bool = True) -> None:
    """Serve ``config.modules_info`` until SIGTERM or Ctrl-C. Blocks."""
    import uvicorn

    pid = running_pid(config.port)
    if pid is not None:
        raise ServerStateError(
            config.port,
            f"a finehub server (pid {pid}) already runs here; stop it with `finehub serve stop --port {config.port}`",
        )
    record = pid_file(config.port)
    atomic_write_text(record, f"{os.getpid()}\n")
    os.environ[CONFIG_ENV] = config.model_dump_json()
    shared_metrics = metrics_dir(config.port)
    if config.workers > 1:  # read by each worker's prometheus_client when it first imports it
        shutil.rmtree(shared_metrics, ignore_errors=True)  # a previous run's values must not count
        shared_metrics.mkdir(parents=True)
        os.environ[MULTIPROC_ENV] = str(shared_metrics)
    try:
        uvicorn.run(
            "finehub.serving.app:app_from_env",
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers,
            timeout_graceful_shutdown=math.ceil(config.timeout),
            log_level="info",
            access_log=access_log,
        )
    finally:
        if config.workers > 1:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(shared_metrics, ignore_errors=True)
        if record.exists() and record.read_text().strip() == str(os.getpid()):
            record.unlink()


def stop(port: int, *, timeout: float = 60.0) -> int:
    """SIGTERM the server recorded for ``port`` and wait until it has exited; returns its pid."""
    pid = running_pid(port)
    if pid is None:
        raise ServerStateError(
            port, f"no finehub server is recorded as running (no live pid in {pid_file(port)})"
        )
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise ServerStateError(
                port, f"server pid {pid} did not exit within {timeout:g}s; `kill -9 {pid}` ends it"
            )
        time.sleep(0.1)
    pid_file(port).unlink(missing_ok=True)
    return pid
