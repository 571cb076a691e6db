"""Schemathesis against the live server's /openapi.json: generated requests, valid and invalid,
never cause a 5xx."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (a dev dependency) is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from serving.serving_modules import ImageSizer, Strict  # noqa: E402
from serving.serving_support import live_server  # noqa: E402

from finehub.serving.app import create_app  # noqa: E402
from finehub.serving.config import ServingConfig  # noqa: E402


def fuzz(strategy) -> None:
    @given(case=strategy)
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    check()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_generated_requests_cause_no_server_error(mode) -> None:
    config = ServingConfig(max_items_per_request=16, max_request_bytes=256 * 1024, timeout=10)
    app = create_app({"img": ImageSizer(), "strict": Strict()}, config)
    with live_server(app) as (url, _):
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        operations = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
        assert {"POST /predict/{module}", "POST /v1/modules/img/describe"} <= set(operations)
        for label, op in operations.items():
            if mode is schemathesis.GenerationMode.NEGATIVE and op.method.upper() == "GET":
                continue  # no inputs, so nothing to make invalid
            fuzz(op.as_strategy(generation_mode=mode))
            if label == "POST /predict/{module}":  # also with module names that exist
                for module in ("img", "strict"):
                    fuzz(op.as_strategy(generation_mode=mode, path_parameters={"module": module}))
    statuses = {
        (s.labels["module"], s.labels["method"], s.labels["status"]): s.value
        for s in app.state.finehub.metrics.requests.collect()[0].samples
        if s.name.endswith("_total")
    }
    assert not [k for k in statuses if k[2].startswith("5")], statuses
    assert sum(n for (module, _, _), n in statuses.items() if module == "strict") >= 25
