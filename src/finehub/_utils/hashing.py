"""sha256 of files and bytes, the one integrity check finehub uses everywhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from finehub.errors import IntegrityError, InvalidNameError

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(value: object, *, where: str) -> str:
    """``value`` in lower case if it is 64 hex characters, else InvalidNameError.

    Call it before a pinned sha256 is compared or used in a file name: a value such as
    ``"../../x"`` must never reach a path.
    """
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise InvalidNameError(where, "sha256", value, "is not a sha256 (64 hexadecimal characters)")
    return value.lower()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise IntegrityError unless the file's sha256 is ``expected``."""
    actual = sha256_file(path)
    if actual != check_sha256(expected, where=str(path)):
        raise IntegrityError(str(path), expected, actual)
