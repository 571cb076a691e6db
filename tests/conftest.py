"""Test-wide setup: every test session gets its own FINEHUB_HOME, inherited by subprocesses."""

from __future__ import annotations

import os
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="finehub-test-home-")
os.environ["FINEHUB_HOME"] = _HOME
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def finehub_home() -> str:
    """The FINEHUB_HOME of this test session."""
    return _HOME
