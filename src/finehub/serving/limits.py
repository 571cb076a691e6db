"""Request limits: the body size (on the declared Content-Length and on the bytes actually sent),
and the shape of the arguments a module may be given (nesting depth, text length, valid Unicode)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finehub.serving.schemas import BAD_BODY, INVALID_ARGUMENT, TOO_LARGE, envelope

#: Deepest nesting of an argument's lists and objects. No served method needs more, and deeper
#: values would overflow the recursion of the JSON encoding and hashing done on them later.
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyLimitMiddleware:
    """Answers 413 when a request body exceeds ``max_bytes``.

    The body is read here, up to the limit, before the app sees it; the app then receives it as one
    message. Every route of the server reads whole bodies anyway, so nothing is lost by buffering.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"the body is {int(declared)} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, "the body is larger than that")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, what: str) -> None:
        msg = f"{what}; the server accepts at most max_request_bytes={self.max_bytes}; send fewer or smaller items"
        body = json.dumps(envelope(TOO_LARGE, msg)).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def check_arguments(arguments: Mapping[str, Any], *, max_text_chars: int) -> tuple[int, str, str] | None:
    """(HTTP status, code, message naming the place) for the first value no module should get,
    else None: nesting deeper than :data:`MAX_DEPTH` (400, 112); a string, or an object key, longer
    than ``max_text_chars`` or holding a lone surrogate (422, 113). JSON's ``\\ud800`` escape can
    carry a lone surrogate, but no UTF-8 text can, so tokenizers and encoders would fail on it.

    Every string of every argument counts: image arguments reach this point decoded to bytes. The
    walk is iterative, so no value can overflow the stack here."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((name,), value) for name, value in arguments.items()]
    stack.reverse()  # report the first bad value in argument order
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value, max_text_chars)
            if problem:
                return 422, INVALID_ARGUMENT, f"{_where(path)}: {problem}"
        elif isinstance(value, (list, tuple, dict)):
            if len(path) > MAX_DEPTH:
                return 400, BAD_BODY, f"{_where(path[:1])}: nested deeper than {MAX_DEPTH} levels"
            items = list(value.items() if isinstance(value, dict) else enumerate(value))
            for key, item in reversed(items):
                problem = _text_problem(key, max_text_chars) if isinstance(key, str) else None
                if problem:
                    return 422, INVALID_ARGUMENT, f"{_where(path)}: object key: {problem}"
                stack.append(((*path, key), item))
    return None


def _text_problem(text: str, max_chars: int) -> str | None:
    if len(text) > max_chars:
        return (
            f"{len(text)} characters, more than max_text_chars={max_chars}; "
            "split the text or send a shorter one"
        )
    if not text.isascii() and (bad := _SURROGATE.search(text)):
        return (
            f"not valid Unicode: lone surrogate {bad.group()!r} at character {bad.start()}; send UTF-8 text"
        )
    return None


def _where(path: tuple[str | int, ...]) -> str:
    """``("texts", 0, "a")`` -> ``texts[0].a``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
