"""Reading a URL with a size cap and an overall deadline.

A per-read timeout alone lets a server that sends one byte every few seconds hold a transfer open
forever, and a body without end fill the disk. :func:`iter_url` bounds both: the whole transfer
(name lookup, connect, TLS, headers, body) must end within ``limits.timeout_s``, and a body of more
than ``limits.max_bytes`` bytes is refused, before reading when the size is announced. The transfer
runs in a daemon thread that hands chunks over a short queue, so the deadline holds in every phase,
even while a read is blocked; an abandoned thread stops at its next chunk and hands over nothing more.

``file://`` URLs go through the same path and must name a regular file, so ``file:///dev/zero`` or a
FIFO is refused up front.
"""

from __future__ import annotations

import http.client
import os
import queue
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from finehub.errors import (
    ConfigError,
    DownloadTimeoutError,
    DownloadTooLargeError,
    FinehubError,
    OfflineError,
)

SCHEMES = ("file", "http", "https")
_CHUNK = 1 << 16
_DONE = object()


@dataclass(frozen=True)
class TransferLimits:
    """How many bytes one transfer may bring, and how long it may take in all.

    ``name`` prefixes the settings that change them (``<name>_max_bytes``, ``<name>_timeout``), so an
    error can say which one to raise.
    """

    max_bytes: int
    timeout_s: float
    name: str = "download"


def iter_url(
    url: str, *, limits: TransferLimits, what: str, hint: str | None = None, read_timeout: float = 30.0
) -> Iterator[bytes]:
    """Chunks of ``url``'s body (``file://``, ``http://`` or ``https://``), within ``limits``.

    Failing to reach the source raises :class:`OfflineError` (``hint`` ends its message); passing
    a limit raises :class:`DownloadTooLargeError` or :class:`DownloadTimeoutError`. ``read_timeout``
    bounds each wait for data, so an abandoned thread does not linger on a silent server.
    """
    if urllib.parse.urlparse(url).scheme not in SCHEMES:
        raise ConfigError(what, f"{url!r} is not a file://, http:// or https:// URL")
    chunks: queue.Queue[Any] = queue.Queue(maxsize=8)
    stop = threading.Event()
    threading.Thread(
        target=_produce,
        args=(url, chunks, stop, limits, what, hint, read_timeout),
        name="finehub-transfer",
        daemon=True,
    ).start()
    deadline = time.monotonic() + limits.timeout_s
    total = 0
    try:
        while True:
            try:
                item = chunks.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise DownloadTimeoutError(what, limits.timeout_s, f"{limits.name}_timeout") from None
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            total += len(item)
            if total > limits.max_bytes:
                raise _too_large(what, limits)
            yield item
    finally:
        stop.set()


def download_to(url: str, dest: Path, **kwargs: Any) -> None:
    """Stream ``url`` into ``dest`` (a path the caller owns, e.g. a temp file); see :func:`iter_url`."""
    with open(dest, "wb") as out:
        for chunk in iter_url(url, **kwargs):
            out.write(chunk)


def _produce(
    url: str,
    out: queue.Queue[Any],
    stop: threading.Event,
    limits: TransferLimits,
    what: str,
    hint: str | None,
    read_timeout: float,
) -> None:
    """The transfer thread: put chunks, then ``_DONE`` or the error, until the reader stops."""

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        with _open(url, limits, what, read_timeout) as body:
            while not stop.is_set():
                chunk = body.read1(_CHUNK)
                if not chunk or not put(chunk):
                    break
        put(_DONE)
    except BaseException as e:  # handed to the reader, who raises it in its own thread
        put(_translate(e, what, hint))


def _open(url: str, limits: TransferLimits, what: str, read_timeout: float) -> IO[bytes]:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = urllib.request.url2pathname(parsed.path)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(what, f"{path} is not a regular file (a folder, device or FIFO); name a file")
        if st.st_size > limits.max_bytes:
            raise _too_large(what, limits)
        return open(path, "rb")
    request = urllib.request.Request(url, headers={"User-Agent": "finehub"})
    response = urllib.request.urlopen(request, timeout=read_timeout)  # noqa: S310 - scheme checked
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        response.close()
        raise _too_large(what, limits)
    return response


def _too_large(what: str, limits: TransferLimits) -> DownloadTooLargeError:
    return DownloadTooLargeError(what, limits.max_bytes, f"{limits.name}_max_bytes")


def _translate(e: BaseException, what: str, hint: str | None) -> BaseException:
    """Network failures (only those) become OfflineError; anything else is handed on as it is."""
    if isinstance(e, FinehubError):
        return e
    if isinstance(e, urllib.error.HTTPError):
        return _chained(OfflineError(what, f"HTTP {e.code} {e.reason}", hint=hint), e)
    if isinstance(e, (urllib.error.URLError, http.client.HTTPException, OSError)):
        reason = getattr(e, "reason", None) or e
        return _chained(OfflineError(what, str(reason) or type(e).__name__, hint=hint), e)
    return e


def _chained(error: OfflineError, cause: BaseException) -> OfflineError:
    error.__cause__ = cause
    return error
