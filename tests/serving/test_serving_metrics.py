"""``/metrics``: the documented names in Prometheus' formats, summed over all uvicorn workers."""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from serving.test_serving_cli import free_port, installed_echo, start, started  # noqa: F401 - fixtures

from finehub._utils.process import pid_alive
from finehub.serving.metrics import ServingMetrics
from finehub.serving.server import metrics_dir


def test_names_labels_and_formats() -> None:
    m = ServingMetrics()
    m.requests.labels("echo", "classify", "200").inc()
    m.errors.labels("echo", "113").inc()
    m.latency.labels("echo", "classify").observe(0.2)
    m.batch_items.labels("echo", "classify").observe(3)
    m.batch_requests.labels("echo", "classify").observe(2)
    m.module_ready.labels("echo").set(1)

    body, content_type = m.render()
    text = body.decode()
    assert content_type.startswith("text/plain; version=0.0.4")
    for line in (
        "# TYPE finehub_requests_total counter",
        'finehub_requests_total{method="classify",module="echo",status="200"} 1.0',
        'finehub_errors_total{kind="113",module="echo"} 1.0',
        'finehub_request_duration_seconds_bucket{le="0.1",method="classify",module="echo"} 0.0',
        'finehub_request_duration_seconds_bucket{le="0.25",method="classify",module="echo"} 1.0',
        'finehub_batch_size_items_bucket{le="4.0",method="classify",module="echo"} 1.0',
        'finehub_batch_size_requests_count{method="classify",module="echo"} 1.0',
        'finehub_module_ready{module="echo"} 1.0',
    ):
        assert line in text.splitlines(), line
    assert "finehub_requests_total{" not in ServingMetrics().render()[0].decode()  # a registry per app

    body, content_type = m.render("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")


def requests_total(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("finehub_requests_total{")
    )


def test_metrics_sum_over_workers(installed_echo: str, started: list, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "finehub", "serve", "-m", installed_echo, "--port", str(port), "--workers=2"]
    server = start(started, cmd, port, tmp_path / "server.log")
    try:
        check_sums_over_workers(url, metrics_dir(port), installed_echo)
    finally:  # SIGTERM, which uvicorn forwards to its workers (SIGKILL would leave them running)
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    assert not metrics_dir(port).exists()


def check_sums_over_workers(url: str, folder: Path, module: str) -> None:
    def worker_pids(kind: str) -> set[int]:
        return {int(p.stem.rsplit("_", 1)[1]) for p in folder.glob(f"{kind}_*.db")}

    def predict(_: int) -> int:
        return httpx.post(f"{url}/predict/{module}", json={"texts": ["abcdefgh"]}, timeout=30).status_code

    deadline = time.monotonic() + 60
    ready = f'finehub_module_ready{{module="{module}"}} 1.0'
    while len(worker_pids("gauge_livemin")) < 2 or ready not in httpx.get(url + "/metrics").text:
        assert time.monotonic() < deadline, "the module never became ready in both workers"
        time.sleep(0.1)

    # one fresh connection per request, until both workers have answered some (the kernel picks)
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while len(worker_pids("counter")) < 2:
            assert sent < 2000, "every request went to one worker"
            assert set(pool.map(predict, range(16))) == {200}
            sent += 16
    # a scrape reaches one worker at random; each must report all requests
    assert [requests_total(url) for _ in range(10)] == [sent] * 10

    # a worker that dies: what it counted stays, its live gauge is dropped at the next scrape
    dead = min(worker_pids("gauge_livemin"))
    os.kill(dead, signal.SIGKILL)
    while pid_alive(dead):
        assert time.monotonic() < deadline + 60, f"worker {dead} survived SIGKILL"
        time.sleep(0.05)
    assert requests_total(url) == sent
    assert dead not in worker_pids("gauge_livemin") and dead in worker_pids("counter")
