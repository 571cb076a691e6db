"""Serving throughput with micro-batching on vs off (off = one request per call, PaddleHub's way).

Starts two real servers on loopback (``finehub.serving.server.serve`` in subprocesses), one per
setting, and loads them alternately (on, off, on, off, ... after a warm-up of each) from 32
concurrent async clients sending one text per request. Reports throughput, p50/p99 latency and
the server's RSS before/after each round; prints a table and writes
benchmarks/results/<cpu kind>/serving.json.

    python benchmarks/serving_load.py                      # 10,000 requests per round, minilm-l6
    python benchmarks/serving_load.py --requests 2000      # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from finehub.bench.harness import results_folder

SERVER = (
    "import json, sys; from finehub.serving.config import ServingConfig; from finehub.serving.server import serve; "
    "serve(ServingConfig.parse(json.loads(sys.argv[1])), access_log=False)"
)
WORDS = [
    "the",
    "model",
    "reads",
    "short",
    "and",
    "long",
    "sentences",
    "about",
    "markets",
    "weather",
    "sport",
    "music",
    "travel",
    "food",
    "science",
    "history",
    "cities",
    "rivers",
    "phones",
    "cameras",
    "batteries",
    "engines",
    "gardens",
    "recipes",
    "elections",
    "museums",
    "trains",
]


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 32))) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Server:
    def __init__(
        self, module: str, *, max_batch_size: int, max_batch_delay_ms: float, threads: int | None
    ) -> None:
        self.port = free_port()
        config = {
            "modules_info": {module: {}},
            "port": self.port,
            "max_batch_size": max_batch_size,
            "max_batch_delay_ms": max_batch_delay_ms,
            "timeout": 120,
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.devnull, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server on port {self.port} exited with {self.proc.returncode}")
            try:
                r = httpx.get(self.url + "/ready", timeout=2)
                if r.status_code == 200:
                    return
                if r.json().get("errors"):
                    raise SystemExit(f"module failed to load: {r.json()['errors']}")
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("server not ready in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def load(url: str, module: str, inputs: list[str], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index, failures
        while next_index < len(inputs):
            text = inputs[next_index]
            next_index += 1
            t = time.perf_counter()
            r = await http.post(f"/predict/{module}", json={"texts": [text]})
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                failures += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(inputs),
        "failures": failures,
        "seconds": wall,
        "throughput_rps": len(inputs) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000, help="requests per measured round")
    ap.add_argument("--rounds", type=int, default=2, help="measured rounds per setting (alternating)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=256, help="requests per server before measuring")
    ap.add_argument(
        "--module", default="minilm-l6", help="module to serve (the README figure uses minilm-l6)"
    )
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--max-batch-delay-ms", type=float, default=5.0)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for each server (1 avoids oversubscription on a small shared machine)",
    )
    ap.add_argument(
        "--output", type=Path, default=results_folder(Path(__file__).with_name("results")) / "serving.json"
    )
    args = ap.parse_args()

    settings = {
        "on": {"max_batch_size": args.max_batch_size, "max_batch_delay_ms": args.max_batch_delay_ms},
        "off": {"max_batch_size": 1, "max_batch_delay_ms": 0.0},
    }
    servers = {name: Server(args.module, **cfg, threads=args.threads) for name, cfg in settings.items()}
    rounds: list[dict] = []
    try:
        for server in servers.values():
            server.wait_ready()
        for server in servers.values():
            asyncio.run(load(server.url, args.module, texts(args.warmup, seed=99), args.concurrency))
        inputs = texts(args.requests)
        for i in range(args.rounds):
            for name, server in servers.items():
                before = rss_mib(server.proc.pid)
                result = asyncio.run(load(server.url, args.module, inputs, args.concurrency))
                result.update(
                    batching=name, round=i + 1, rss_before_mib=before, rss_after_mib=rss_mib(server.proc.pid)
                )
                rounds.append(result)
                print(
                    f"round {i + 1} batching {name:3}: {result['throughput_rps']:7.1f} req/s, "
                    f"p50 {result['p50_ms']:6.1f} ms, p99 {result['p99_ms']:7.1f} ms",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()

    summary = {}
    for name in settings:
        mine = [r for r in rounds if r["batching"] == name]
        summary[name] = {
            "throughput_rps": statistics.median(r["throughput_rps"] for r in mine),
            "p50_ms": statistics.median(r["p50_ms"] for r in mine),
            "p99_ms": statistics.median(r["p99_ms"] for r in mine),
            "rss_before_mib": mine[0]["rss_before_mib"],
            "rss_after_mib": mine[-1]["rss_after_mib"],
            "failures": sum(r["failures"] for r in mine),
        }
    ratio = summary["on"]["throughput_rps"] / summary["off"]["throughput_rps"]
    threads = f", OMP_NUM_THREADS={args.threads}" if args.threads else ""
    print(
        f"\n{args.module}, {args.requests} requests x {args.rounds} rounds, {args.concurrency} clients, "
        f"1 text each{threads}"
    )
    print(
        f"{'batching':10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'RSS MiB before→after':>24}{'failed':>8}"
    )
    for name, s in summary.items():
        rss = f"{s['rss_before_mib']:.0f}→{s['rss_after_mib']:.0f}"
        print(
            f"{name:10}{s['throughput_rps']:10.1f}{s['p50_ms']:10.1f}{s['p99_ms']:10.1f}{rss:>24}{s['failures']:8d}"
        )
    print(f"throughput on/off: {ratio:.2f}x")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "module": args.module,
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "concurrency": args.concurrency,
                "server_threads": args.threads,
                "settings": settings,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "summary": summary,
                "throughput_ratio_on_off": ratio,
                "runs": rounds,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
