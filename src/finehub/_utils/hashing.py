"""sha256 of files and bytes, the one integrity check finehub uses everywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

from finehub.errors import IntegrityError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise IntegrityError unless the file's sha256 is ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise IntegrityError(str(path), expected, actual)
