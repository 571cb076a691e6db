"""Serving the real minilm-l6 module end to end: loaded through finehub.Module, batched, exact."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from serving.serving_support import live_server

from finehub.serving.app import create_app
from finehub.serving.config import ServingConfig

pytestmark = pytest.mark.slow


def test_minilm_served_with_batching() -> None:
    from finehub.hub.loader import Module

    texts = [f"sentence number {i} about {'cats' if i % 2 else 'finance'}" for i in range(16)]
    config = ServingConfig(max_batch_size=32, max_batch_delay_ms=20)
    app = create_app({"minilm-l6": lambda: Module("minilm-l6")}, config)

    async def clients(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for _ in range(600):  # the module loads in the background
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            return await asyncio.gather(
                *(client.post("/predict/minilm-l6", json={"texts": [t]}) for t in texts)
            )

    with live_server(app) as (url, _):
        responses = asyncio.run(clients(url))
        sim = httpx.post(
            url + "/v1/modules/minilm-l6/similarity", json={"a": "a cat", "b": "a kitten"}, timeout=60
        )
        module = app.state.finehub.served["minilm-l6"].module
        metrics = httpx.get(url + "/metrics").text

    assert all(r.status_code == 200 and r.json()["status"] == "000" for r in responses)
    served = np.array([r.json()["results"][0] for r in responses], dtype=np.float32)
    direct = module.embed(texts)
    assert served.shape == (16, 384)
    # merged calls give each request its own rows (bf16 rounding differs with the batch's padding)
    cosines = served @ direct.T
    assert np.all(np.argmax(cosines, axis=1) == np.arange(16))
    assert np.diag(cosines).min() > 0.999
    assert 0.5 < sim.json()["results"] <= 1.0
    calls = next(
        line
        for line in metrics.splitlines()
        if line.startswith('finehub_batch_size_requests_count{method="embed",module="minilm-l6"}')
    )
    assert float(calls.split()[-1]) < 16, "no two requests were merged"
