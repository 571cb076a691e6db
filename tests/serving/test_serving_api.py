"""End-to-end: real HTTP against a real uvicorn server, every answer code of the API."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from serving.serving_modules import EchoClassifier
from serving.serving_support import live_server, png_b64

from finehub.serving.app import create_app
from finehub.serving.config import ServingConfig


def post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(url + path, timeout=10, **kw)


def test_predict_paddlehub_envelope_and_predict_args(server_url: str) -> None:
    r = post(server_url, "/predict/echo", json={"texts": ["ab", "abcd"]})
    assert r.status_code == 200
    # predict_args sets threshold=2 on the server: "abcd" is long, "ab" is short
    assert r.json() == {
        "status": "000",
        "msg": "",
        "results": [{"label": "short", "length": 2}, {"label": "long", "length": 4}],
    }
    r = post(server_url, "/predict/echo", json={"texts": ["abcd"], "threshold": 10})
    assert r.json()["results"] == [{"label": "short", "length": 4}]


def test_typed_route(server_url: str) -> None:
    r = post(server_url, "/v1/modules/echo/count", json={"texts": ["a", "b", "c"]})
    assert r.status_code == 200 and r.json()["results"] == 3


def test_unknown_module_is_404_111(server_url: str) -> None:
    r = post(server_url, "/predict/nope", json={"texts": ["a"]})
    assert r.status_code == 404
    assert r.json()["status"] == "111" and "'nope'" in r.json()["msg"] and "echo" in r.json()["msg"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b""])
def test_body_not_a_json_object_is_400_112(server_url: str, content: bytes) -> None:
    r = post(server_url, "/predict/echo", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["status"] == "112"
    r = post(
        server_url, "/v1/modules/echo/classify", content=content, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["status"] == "112"


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"texts": ["a", 3]}, "texts[1]", "valid string"),
        ({}, "texts", "required"),
        ({"texts": "abc"}, "texts", "valid list"),
        ({"texts": ["a"], "colour": "red"}, "colour", "unknown argument"),
        ({"texts": ["a"], "threshold": "high"}, "threshold", "integer"),
    ],
)
@pytest.mark.parametrize("path", ["/predict/echo", "/v1/modules/echo/classify"])
def test_bad_arguments_are_422_113_naming_the_field(
    server_url: str, path: str, body, field: str, text: str
) -> None:
    r = post(server_url, path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["status"] == "113"
    assert r.json()["msg"].startswith(f"{field}: ") and text in r.json()["msg"]


def test_module_errors(server_url: str) -> None:
    r = post(server_url, "/predict/echo", json={"texts": ["boom"]})  # ValueError: the client's input
    assert r.status_code == 422 and r.json()["status"] == "101" and "boom" in r.json()["msg"]
    r = post(server_url, "/predict/strict", json={"texts": ["ok", ""]})  # ModuleInputError names the field
    assert r.status_code == 422 and r.json()["msg"] == "texts[1]: empty text"
    r = post(server_url, "/predict/echo", json={"texts": ["crash"]})  # a failure of the module itself
    assert r.status_code == 500 and r.json()["status"] == "101" and "RuntimeError" in r.json()["msg"]


def test_images(server_url: str) -> None:
    r = post(server_url, "/predict/img", json={"images": [png_b64(40, 20), png_b64(8, 6, data_url=True)]})
    assert r.status_code == 200, r.text
    assert [(x["width"], x["height"]) for x in r.json()["results"]] == [(40, 20), (8, 6)]
    r = post(server_url, "/v1/modules/img/describe", json={"images": [png_b64(), "%%%not base64%%%"]})
    assert (
        r.status_code == 422
        and r.json()["status"] == "113"
        and r.json()["msg"].startswith("images[1]: not valid base64")
    )
    r = post(server_url, "/v1/modules/img/describe", json={"images": ["aGVsbG8gd29ybGQ="]})  # "hello world"
    assert r.status_code == 422 and r.json()["status"] == "101"
    assert r.json()["msg"].startswith("images[0]: ") and "not a readable image" in r.json()["msg"]
    # a path is never opened: it is not base64, so it is refused before the module runs
    r = post(server_url, "/v1/modules/img/describe", json={"images": ["/etc/hostname"]})
    assert r.status_code == 422 and "base64" in r.json()["msg"]


def test_body_too_large_is_413(server_url: str) -> None:
    big = {"texts": ["x" * (70 * 1024)]}
    r = post(server_url, "/predict/echo", json=big)
    assert (
        r.status_code == 413 and r.json()["status"] == "114" and "max_request_bytes=65536" in r.json()["msg"]
    )

    def chunks():  # no Content-Length: the streamed size is what counts
        yield b'{"texts": ["'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"]}'

    r = post(
        server_url,
        "/v1/modules/echo/classify",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["status"] == "114"


def test_too_many_items_is_413(server_url: str) -> None:
    r = post(server_url, "/predict/echo", json={"texts": ["a"] * 9})
    assert r.status_code == 413
    assert r.json()["status"] == "114" and r.json()["msg"].startswith(
        "texts: more than max_items_per_request=8"
    )


def test_timeout_is_504(server_url: str) -> None:
    r = post(server_url, "/predict/slow", json={"texts": ["a"]})
    assert r.status_code == 504 and r.json()["status"] == "115" and "timeout=1s" in r.json()["msg"]


def test_health_ready_modules_metrics(server_url: str) -> None:
    assert httpx.get(server_url + "/health").json() == {"status": "ok"}
    ready = httpx.get(server_url + "/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    mods = {m["name"]: m for m in httpx.get(server_url + "/modules").json()["modules"]}
    assert set(mods) == {"echo", "img", "strict", "slow"}
    echo = mods["echo"]
    assert (echo["version"], echo["task"], echo["status"]) == ("1.2.0", "text-classification", "ready")
    classify = next(m for m in echo["methods"] if m["name"] == "classify")
    assert classify["default"] is True and classify["batch"] == "texts"
    params = {p["name"]: p for p in classify["parameters"]}
    assert params["texts"]["required"] and params["texts"]["schema"]["maxItems"] == 8
    assert params["threshold"]["default"] == 2  # from predict_args
    assert mods["img"]["methods"][0]["parameters"][0]["image"] is True

    post(server_url, "/predict/echo", json={"texts": ["a"]})
    text = httpx.get(server_url + "/metrics").text
    assert httpx.get(server_url + "/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE finehub_requests_total counter" in text
    assert 'finehub_requests_total{method="classify",module="echo",status="200"}' in text
    assert 'finehub_request_duration_seconds_bucket{le="+Inf",method="classify",module="echo"}' in text
    assert 'finehub_batch_size_items_count{method="classify",module="echo"}' in text
    assert 'finehub_module_ready{module="echo"} 1' in text


def test_openapi_describes_inputs_and_outputs(server_url: str) -> None:
    spec = httpx.get(server_url + "/openapi.json").json()
    op = spec["paths"]["/v1/modules/img/describe"]["post"]
    req = spec["components"]["schemas"][
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    assert (
        req["required"] == ["images"] and req["properties"]["images"]["items"]["contentEncoding"] == "base64"
    )
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "results" in spec["components"]["schemas"][ok]["properties"]
    assert {"413", "422", "504"} <= set(op["responses"])
    assert "/predict/{module}" in spec["paths"]
    assert httpx.get(server_url + "/docs").status_code == 200


def test_concurrent_requests_are_batched_and_errors_isolated() -> None:
    module = EchoClassifier(delay=0.1)
    app = create_app({"echo": module}, ServingConfig(max_batch_size=64, max_batch_delay_ms=50))

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            texts = [f"text-{i}" for i in range(12)] + ["boom"]
            return await asyncio.gather(*(client.post("/predict/echo", json={"texts": [t]}) for t in texts))

    with live_server(app) as (url, _):
        responses = asyncio.run(burst(url))
    assert [r.status_code for r in responses] == [200] * 12 + [422]
    assert [r.json()["results"][0]["length"] for r in responses[:12]] == [len(f"text-{i}") for i in range(12)]
    merged = [c for c in module.calls if len(c) > 1]
    assert merged, f"no request was merged: {module.calls}"
    assert not module.overlapped  # one inference thread per module


def test_ready_is_503_while_loading_then_200() -> None:
    gate = threading.Event()

    def load() -> EchoClassifier:
        gate.wait(10)
        return EchoClassifier()

    def broken() -> EchoClassifier:
        raise OSError("weights file is missing")

    app = create_app({"late": load, "bad": broken})
    with live_server(app) as (url, _):
        r = httpx.get(url + "/ready")
        assert r.status_code == 503 and r.json()["modules"]["late"] == "loading"
        r = httpx.post(url + "/predict/late", json={"texts": ["a"]})
        assert r.status_code == 503 and r.json()["status"] == "116" and "still loading" in r.json()["msg"]
        assert httpx.get(url + "/health").status_code == 200
        gate.set()
        for _ in range(200):
            if httpx.get(url + "/modules").json()["modules"][0]["status"] == "ready":
                break
            threading.Event().wait(0.02)
        assert (
            httpx.post(url + "/predict/late", json={"texts": ["abcdefg"]}).json()["results"][0]["label"]
            == "long"
        )
        assert "/v1/modules/late/classify" in httpx.get(url + "/openapi.json").json()["paths"]
        r = httpx.get(url + "/ready")
        assert r.status_code == 503 and r.json()["modules"] == {"late": "ready", "bad": "failed"}
        assert "weights file is missing" in r.json()["errors"]["bad"]
        r = httpx.post(url + "/predict/bad", json={"texts": ["a"]})
        assert r.status_code == 503 and "failed to load" in r.json()["msg"]


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    app = create_app({"echo": EchoClassifier(delay=1.0)})
    result: dict[str, httpx.Response] = {}
    with live_server(app) as (url, server):
        thread = threading.Thread(
            target=lambda: result.update(
                r=httpx.post(url + "/predict/echo", json={"texts": ["abcdef"]}, timeout=10)
            )
        )
        thread.start()
        threading.Event().wait(0.3)  # the request is in the module now
        server.should_exit = True  # what SIGTERM does
        thread.join(10)
    assert result["r"].status_code == 200 and result["r"].json()["results"][0]["label"] == "long"
