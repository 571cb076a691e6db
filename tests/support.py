"""Builders shared by tests: real module folders, archives, indexes, and a loopback HTTP server."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import tarfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

MODULE_PY = textwrap.dedent(
    '''
    from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
    from finehub.hub.weights import load_state_dict


    @moduleinfo(name="placeholder", version="0")
    class Scaler(ModuleBase):
        """Multiplies inputs by a weight read from its safetensors asset."""

        def __init__(self, *, directory=None, offset=0.0, **kw):
            super().__init__(directory=directory, **kw)
            self.weight = float(load_state_dict(self.directory / "weights.safetensors")["w"][0])
            self.offset = offset

        @runnable
        @serving(batch="values")
        def scale(self, values: list[float], factor: float = 1.0) -> list[float]:
            return [float(v) * self.weight * factor + self.offset for v in values]
    '''
)


def make_module(
    root: Path,
    name: str = "scaler",
    version: str = "1.0.0",
    weight: float = 2.0,
    finehub: str = ">=0.1,<1",
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """A folder module with code, a safetensors asset pinned by sha256, and module.json."""
    import torch
    from safetensors.torch import save_file

    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    (folder / "module.py").write_text(MODULE_PY)
    save_file({"w": torch.tensor([weight])}, str(folder / "weights.safetensors"))
    for rel, data in (extra_files or {}).items():
        (folder / rel).write_bytes(data)
    assets = [{"path": "weights.safetensors", "sha256": _sha(folder / "weights.safetensors")}]
    manifest = {
        "name": name,
        "version": version,
        "summary": f"{name} test module",
        "task": "scaling",
        "tags": ["test"],
        "entry": "module.py:Scaler",
        "finehub": finehub,
        "assets": assets,
    }
    (folder / "module.json").write_text(json.dumps(manifest))
    return folder


def make_archive(folder: Path, dest_dir: Path) -> Path:
    out = dest_dir / f"{folder.name}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for p in sorted(folder.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(folder)), recursive=False)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``root``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def write_index(root: Path, entries: list[tuple[Path, str, str]]) -> Path:
    """index.json in ``root`` listing archives (archive, version, finehub range) of module 'scaler'."""
    versions = [{"version": v, "url": a.name, "sha256": _sha(a), "finehub": fr} for a, v, fr in entries]
    index = {
        "format": 1,
        "modules": [
            {
                "name": "scaler",
                "summary": "scales numbers",
                "task": "scaling",
                "tags": ["test"],
                "versions": versions,
            }
        ],
    }
    path = root / "index.json"
    path.write_text(json.dumps(index))
    return path
