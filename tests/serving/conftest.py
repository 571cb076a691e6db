"""Fixtures for serving tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serving.serving_support import live_server


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """Echo, image and strict modules with small limits, shared by a test file."""
    from serving.serving_modules import EchoClassifier, ImageSizer, Strict

    from finehub.serving.app import create_app
    from finehub.serving.config import ServingConfig

    config = ServingConfig.parse(
        {
            "modules_info": {"echo": {"predict_args": {"threshold": 2}}},
            "max_request_bytes": 64 * 1024,
            "max_items_per_request": 8,
            "timeout": 1.0,
            "max_batch_delay_ms": 2,
        }
    )
    modules = {
        "echo": EchoClassifier(),
        "img": ImageSizer(),
        "strict": Strict(),
        "slow": EchoClassifier(delay=1.5),
    }
    with live_server(create_app(modules, config)) as (url, _):
        yield url
