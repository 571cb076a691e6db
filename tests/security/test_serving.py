"""Hostile requests against a real server on loopback: each gets a 4xx in the documented envelope
``{"status", "msg", "results"}`` naming what was wrong, and the server keeps answering."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import pytest
from serving.serving_modules import EchoClassifier, ImageSizer
from serving.serving_support import live_server, png_b64

from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
from finehub.serving.app import create_app
from finehub.serving.config import ServingConfig

MAX_TEXT_CHARS = 1000
MAX_IMAGE_PIXELS = 10_000


@moduleinfo(name="json-sizes", version="0.1.0", task="test")
class JsonSizes(ModuleBase):
    """Takes untyped JSON items, as a module whose inputs are not annotated does."""

    @runnable
    @serving(batch="inputs")
    def sizes(self, inputs: Any) -> list[int]:
        """Length of each item as JSON."""
        return [len(json.dumps(item)) for item in inputs]


@moduleinfo(name="any-images", version="0.1.0", task="test")
class AnyImages(ModuleBase):
    """Takes images through an untyped argument, as an exported ONNX model's ``predict`` does."""

    @runnable
    @serving(batch="inputs")
    def sizes(self, inputs: Any) -> list[list[int]]:
        """Width and height of each image."""
        from finehub.imaging.images import load_images

        return [list(img.size) for img in load_images(inputs)]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    config = ServingConfig(
        max_request_bytes=1 << 20,
        max_text_chars=MAX_TEXT_CHARS,
        max_image_pixels=MAX_IMAGE_PIXELS,
        max_batch_delay_ms=20,
        timeout=20,
    )
    modules = {"echo": EchoClassifier(), "img": ImageSizer(), "json": JsonSizes(), "any": AnyImages()}
    with live_server(create_app(modules, config)) as (base, _):
        yield base


def post(url: str, path: str, body: bytes | dict) -> httpx.Response:
    if isinstance(body, dict):
        return httpx.post(url + path, json=body, timeout=30)
    return httpx.post(url + path, content=body, headers={"content-type": "application/json"}, timeout=30)


def refused(r: httpx.Response, http: int, status: str) -> str:
    """The message of an envelope answer with these codes."""
    assert r.status_code == http, r.text
    body = r.json()
    assert set(body) == {"status", "msg", "results"} and body["results"] is None, body
    assert body["status"] == status, body
    return body["msg"]


def nested(depth: int, key: str) -> bytes:
    return b'{"%s": ' % key.encode() + b"[" * depth + b"]" * depth + b"}"


ROUTES = [
    ("/predict/echo", "texts"),
    ("/v1/modules/echo/classify", "texts"),
    ("/predict/json", "inputs"),
    ("/v1/modules/json/sizes", "inputs"),
]


@pytest.mark.parametrize(("path", "key"), ROUTES)
def test_deeply_nested_json_is_400_112(url: str, path: str, key: str) -> None:
    msg = refused(post(url, path, nested(100_000, key)), 400, "112")
    assert "nest" in msg


def test_nesting_that_parses_is_still_bounded(url: str) -> None:
    msg = refused(post(url, "/v1/modules/json/sizes", nested(40, "inputs")), 400, "112")
    assert msg == "inputs: nested deeper than 32 levels"
    assert post(url, "/v1/modules/json/sizes", nested(20, "inputs")).json()["results"] == [len("[]") + 36]
    # a typed argument says which item has the wrong type
    msg = refused(post(url, "/predict/echo", nested(40, "texts")), 422, "113")
    assert msg.startswith("texts[0]: ")


@pytest.mark.parametrize(("path", "key"), ROUTES)
def test_lone_surrogate_is_422_113_naming_the_item(url: str, path: str, key: str) -> None:
    body = b'{"%s": ["fine", "\\ud800abc"]}' % key.encode()
    msg = refused(post(url, path, body), 422, "113")
    assert msg.startswith(f"{key}[1]: not valid Unicode") and "\\ud800" in msg


def test_surrogates_in_object_keys_and_valid_pairs(url: str) -> None:
    msg = refused(post(url, "/predict/json", b'{"inputs": [{"k\\udc00": 1}]}'), 422, "113")
    assert msg.startswith("inputs[0]: object key: not valid Unicode")
    # an escaped surrogate *pair* is one valid character
    r = post(url, "/predict/echo", b'{"texts": ["\\ud83d\\ude00!"]}')
    assert r.status_code == 200 and r.json()["results"] == [{"label": "short", "length": 2}]


@pytest.mark.parametrize(
    ("body", "http", "status", "start"),
    [
        (nested(100_000, "texts"), 400, "112", "the body could not be parsed"),
        (b'{"texts": ["a"', 400, "112", "the body must be a JSON object"),
        (b"[1, 2]", 400, "112", "the body must be a JSON object"),
        (b'{"texts": ["a", 3]}', 422, "113", "texts[1]: "),
        (b'{"texts": ["a"], "colour": 1}', 422, "113", "colour: unknown argument"),
        (b"{}", 422, "113", "texts: "),
    ],
)
def test_typed_route_errors_use_the_envelope(
    url: str, body: bytes, http: int, status: str, start: str
) -> None:
    msg = refused(post(url, "/v1/modules/echo/classify", body), http, status)
    assert msg.startswith(start)


def test_unknown_routes_and_methods_use_the_envelope(url: str) -> None:
    msg = refused(post(url, "/v1/modules/echo/nope", {"texts": ["a"]}), 404, "111")
    assert "/v1/modules/echo/nope" in msg
    r = httpx.get(url + "/v1/modules/echo/classify")
    assert "POST" in refused(r, 405, "111") and r.headers["allow"] == "POST"


def test_text_longer_than_max_text_chars_is_422_113_while_others_are_served(url: str) -> None:
    long = "x" * (MAX_TEXT_CHARS + 1)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            small = [client.post("/predict/echo", json={"texts": [f"t{i}"]}) for i in range(5)]
            big = client.post("/predict/echo", json={"texts": ["short", long]})
            return await asyncio.gather(big, *small)

    big, *small = asyncio.run(burst())
    msg = refused(big, 422, "113")
    assert (
        msg
        == f"texts[1]: {MAX_TEXT_CHARS + 1} characters, more than max_text_chars={MAX_TEXT_CHARS}; "
        + ("split the text or send a shorter one")
    )
    assert [r.json()["results"][0]["length"] for r in small] == [2] * 5
    ok = post(url, "/v1/modules/echo/classify", {"texts": ["y" * MAX_TEXT_CHARS]})
    assert ok.status_code == 200 and ok.json()["results"][0]["length"] == MAX_TEXT_CHARS


def png_of(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, format="PNG")  # 1 bit per pixel: a small file
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("path", ["/predict/img", "/v1/modules/img/describe"])
def test_decompression_bomb_is_422_naming_the_limit(url: str, path: str) -> None:
    bomb = png_of(20_000, 20_000)
    assert len(bomb) < 100_000  # 400 megapixels in a few tens of kilobytes
    msg = refused(post(url, path, {"images": [png_b64(40, 20), bomb]}), 422, "101")
    assert msg.startswith("images[1]: ") and f"max_image_pixels={MAX_IMAGE_PIXELS}" in msg


def test_images_over_the_configured_pixel_limit_are_refused(url: str) -> None:
    msg = refused(post(url, "/predict/img", {"images": [png_b64(200, 100)]}), 422, "101")
    assert msg == (
        f"images[0]: data is a 200×100 image (20000 pixels), more than max_image_pixels={MAX_IMAGE_PIXELS}; "
        "send a smaller image"
    )
    r = post(url, "/predict/img", {"images": [png_b64(100, 100)]})
    assert r.status_code == 200 and r.json()["results"][0]["width"] == 100


def test_the_server_answered_no_5xx(url: str) -> None:
    post(url, "/predict/echo", nested(100_000, "texts"))
    post(url, "/v1/modules/json/sizes", b'{"inputs": ["\\ud800"]}')
    metrics = httpx.get(url + "/metrics").text
    answered = [line for line in metrics.splitlines() if line.startswith("finehub_requests_total{")]
    assert answered and not [line for line in answered if 'status="5' in line], answered


def test_text_encoder_reads_only_the_head_of_long_texts() -> None:
    """A long text costs what its first tokens cost, so it cannot hold up requests behind it."""
    from finehub.hub.loader import Module

    module = Module("minilm-l6")
    words = ["market", "cat,", "unbelievable", "the", "mat.", "naïve", "漢字", "x" * 150]
    long = " ".join(words[(i * 7) % len(words)] for i in range(40_000))
    tokenizer = type(module.tokenizer)
    with live_server(create_app({"minilm-l6": module}, ServingConfig(max_text_chars=len(long)))) as (base, _):
        msg = refused(post(base, "/v1/modules/minilm-l6/embed", b'{"texts": ["ok", "\\udfffx"]}'), 422, "113")
        assert msg.startswith("texts[1]: not valid Unicode")
        with mock.patch.object(tokenizer, "__call__", autospec=True, side_effect=tokenizer.__call__) as spy:
            r = post(base, "/v1/modules/minilm-l6/embed", {"texts": [long, "a cat"]})
        assert r.status_code == 200 and len(r.json()["results"]) == 2
    read = [len(t) for call in spy.call_args_list for t in _texts(call.args[1])]
    assert max(read) < len(long) // 10, read
    full = module.tokenizer(long, truncation=True, max_length=module.max_seq_len)["input_ids"]
    head = module.tokenizer(long[: max(read)], truncation=True, max_length=module.max_seq_len)["input_ids"]
    assert head == full


def _texts(arg: Any) -> list[str]:
    return [arg] if isinstance(arg, str) else list(arg)


def test_library_image_limit_is_scoped_to_its_block() -> None:
    from finehub.errors import ConfigError, ModuleInputError
    from finehub.imaging.images import load_image, max_image_pixels

    data = base64.b64decode(png_b64(200, 100))
    with max_image_pixels(20_000):
        assert load_image(data).size == (200, 100)
        with max_image_pixels(19_999), pytest.raises(ModuleInputError) as info:
            load_image(data, field="photo")
    assert info.value.field == "photo" and "max_image_pixels=19999" in info.value.problem
    assert load_image(data).size == (200, 100)  # the default (40 megapixels) holds again
    with pytest.raises(ModuleInputError, match="max_image_pixels=40000000"):
        load_image(base64.b64decode(png_of(20_000, 20_000)))
    with pytest.raises(ConfigError), max_image_pixels(0):
        pass


def test_a_server_never_opens_a_path_it_is_sent(url: str, tmp_path) -> None:
    """An untyped argument passes strings through to the module; the server still never reads a
    file it names, while the same call in Python opens it."""
    picture = tmp_path / "secret.png"
    picture.write_bytes(base64.b64decode(png_b64(7, 5)))
    for path in ("/predict/any", "/v1/modules/any/sizes"):
        refused(post(url, path, {"inputs": [str(picture)]}), 422, "101")
    assert post(url, "/predict/any", {"inputs": [png_b64(7, 5)]}).json()["results"] == [[7, 5]]
    assert AnyImages().sizes([str(picture)]) == [[7, 5]]
