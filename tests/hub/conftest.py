"""Fixtures for module-system tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import serve_folder


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving a fresh folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    with serve_folder(root) as url:
        yield root, url


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty FINEHUB_HOME for one test (the session one may hold other tests' installs)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FINEHUB_HOME", str(home))
    monkeypatch.delenv("FINEHUB_INDEX_URL", raising=False)
    return home
