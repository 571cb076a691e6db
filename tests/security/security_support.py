"""Builders for the attack corpus: small module folders and archives, and hostile HTTP servers."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PROBE_PY = textwrap.dedent(
    """
    from finehub.hub.module import ModuleBase, moduleinfo, runnable


    @moduleinfo(name="probe", version="0")
    class Probe(ModuleBase):
        @runnable
        def echo(self, values: list) -> list:
            return list(values)
    """
)


def write_module(
    folder: Path, *, name: object = "probe", version: object = "1.0.0", entry: str = "module.py:Probe"
) -> Path:
    """A folder module without assets: module.json and module.py (no torch needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.py").write_text(PROBE_PY)
    (folder / "module.json").write_text(json.dumps({"name": name, "version": version, "entry": entry}))
    return folder


def member(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", data: bytes = b"") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, linkname, 1_700_000_000
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def module_members(name: object = "probe", version: object = "1.0.0") -> list[tuple]:
    manifest = json.dumps({"name": name, "version": version, "entry": "module.py:Probe"}).encode()
    return [member("module.json", data=manifest), member("module.py", data=PROBE_PY.encode())]


def write_tar(path: Path, members: list[tuple]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Regular files under ``root`` (links not followed) whose bytes contain ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


@contextlib.contextmanager
def hostile_server(
    respond: Callable[[http.server.BaseHTTPRequestHandler, threading.Event], None],
) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 whose every GET is answered by ``respond(handler, stop)``;
    ``stop`` is set when the test ends, so a response that never finishes on its own ends then."""
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
            with contextlib.suppress(OSError):  # the client hung up: what these tests want
                respond(self, stop)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def trickle_body(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """A complete status line and headers, then the body one byte every 0.3 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    while not stop.wait(0.3):
        handler.wfile.write(b"{")
        handler.wfile.flush()


def trickle_headers(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """The status line, then header bytes one every 0.3 s: the response never gets to its body."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.wait(0.3):
        handler.wfile.write(b"a")
        handler.wfile.flush()


def endless_body(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """A body without a length that never ends: zeros until the client hangs up."""
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    block = b"\0" * (1 << 16)
    while not stop.is_set():
        handler.wfile.write(block)


def announced_huge(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """Announces a 1 TB body, sends a little, then waits: only the announcement can refuse it fast."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**12))
    handler.end_headers()
    handler.wfile.write(b"\0" * 1024)
    handler.wfile.flush()
    stop.wait(30)


def elapsed(start: float) -> float:
    return time.monotonic() - start
