"""User settings kept in ``FINEHUB_HOME/config.json`` (set with ``finehub config set KEY VALUE``).

Besides ``index_url`` and ``log_level``, the settings hold the limits that keep a hostile or broken
source from hanging finehub or filling the disk. Each limit is read from the environment variable
``FINEHUB_<KEY>`` first (``FINEHUB_INDEX_TIMEOUT=5``), then from config.json, then its default:

==================== =========== =====================================================================
key                  default     what it bounds
==================== =========== =====================================================================
index_max_bytes      16 MiB      size of a module index document
index_timeout        60 s        a whole index fetch (connect, headers and body), however it trickles
download_max_bytes   4 GiB       size of one module archive or dataset download
download_timeout     3600 s      a whole archive or dataset download
archive_max_bytes    16 GiB      total size of the files one archive unpacks to
archive_max_files    100000      number of entries (files and folders) in one archive
archive_max_ratio    200         unpacked size / archive size (an archive under 1 MiB counts as 1 MiB)
==================== =========== =====================================================================

Byte sizes accept a binary unit: ``512KiB``, ``16MiB``, ``4GiB``, ``1TiB``.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from finehub._utils import paths
from finehub._utils.fs import atomic_write_json
from finehub.errors import ConfigError

if TYPE_CHECKING:  # imported where used: reading a setting at startup must stay cheap
    from finehub._utils.archive import ArchiveLimits
    from finehub._utils.transfer import TransferLimits

_MiB, _GiB = 1 << 20, 1 << 30
_UNITS = {"": 1, "KiB": 1 << 10, "MiB": _MiB, "GiB": _GiB, "TiB": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|TiB|)\s*")

LIMITS: dict[str, tuple[float, str]] = {
    "index_max_bytes": (16 * _MiB, "largest module index accepted, in bytes"),
    "index_timeout": (60.0, "seconds a whole module index fetch may take"),
    "download_max_bytes": (4 * _GiB, "largest module archive or dataset download, in bytes"),
    "download_timeout": (3600.0, "seconds a whole archive or dataset download may take"),
    "archive_max_bytes": (16 * _GiB, "most bytes one archive may unpack to"),
    "archive_max_files": (100_000, "most entries one archive may hold"),
    "archive_max_ratio": (200.0, "most an archive may expand (unpacked / packed size)"),
}
KEYS: dict[str, str] = {
    "index_url": "URL of a module index (file://, http://, https://); FINEHUB_INDEX_URL overrides it",
    "log_level": "logging level for finehub's loggers: DEBUG, INFO, WARNING or ERROR",
    **{
        key: f"{doc} (default {default:g}; FINEHUB_{key.upper()} overrides it)"
        for key, (default, doc) in LIMITS.items()
    },
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def read() -> dict[str, Any]:
    path = paths.config_file()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(str(path), f"not valid JSON ({e}); fix or delete the file") from e
    return data if isinstance(data, dict) else {}


def set_value(key: str, value: str | None) -> dict[str, Any]:
    """Set (or, with ``None``, remove) one key; returns the new settings."""
    if key not in KEYS:
        raise ConfigError(key, f"unknown setting; known settings: {', '.join(KEYS)}")
    stored: Any = value
    if key == "log_level" and value is not None:
        stored = value.upper()
        if stored not in LOG_LEVELS:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    elif key in LIMITS and value is not None:
        stored = _parse_limit(key, value, source=key)
    data = read()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = stored
    atomic_write_json(paths.config_file(), data)
    return data


def limit(key: str) -> int | float:
    """The limit ``key`` (see the module docstring): environment, then config.json, then default."""
    env = f"FINEHUB_{key.upper()}"
    if os.environ.get(env, "").strip():
        return _parse_limit(key, os.environ[env], source=env)
    stored = read().get(key)
    if stored is None:
        stored = LIMITS[key][0]
    return _parse_limit(key, str(stored), source=f"{paths.config_file()} key {key!r}")


def transfer_limits(kind: str) -> TransferLimits:
    """The size cap and deadline of a transfer; ``kind`` is ``"index"`` or ``"download"``."""
    from finehub._utils.transfer import TransferLimits

    return TransferLimits(
        max_bytes=int(limit(f"{kind}_max_bytes")), timeout_s=limit(f"{kind}_timeout"), name=kind
    )


def archive_limits() -> ArchiveLimits:
    from finehub._utils.archive import ArchiveLimits

    return ArchiveLimits(
        max_bytes=int(limit("archive_max_bytes")),
        max_files=int(limit("archive_max_files")),
        max_ratio=limit("archive_max_ratio"),
    )


def _parse_limit(key: str, text: str, *, source: str) -> int | float:
    match = _SIZE.fullmatch(text)
    if not match or (match[2] and not key.endswith("_bytes")) or float(match[1]) <= 0:
        unit = " (a binary unit such as MiB or GiB may follow)" if key.endswith("_bytes") else ""
        raise ConfigError(source, f"{text!r} is not a positive number{unit}")
    number = float(match[1]) * _UNITS[match[2]]
    return int(number) if number.is_integer() else number
