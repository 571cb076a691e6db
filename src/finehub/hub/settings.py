"""User settings kept in ``FINEHUB_HOME/config.json`` (set with ``finehub config set KEY VALUE``)."""

from __future__ import annotations

import json
from typing import Any

from finehub._utils import paths
from finehub._utils.fs import atomic_write_json
from finehub.errors import ConfigError

KEYS: dict[str, str] = {
    "index_url": "URL of a module index (file://, http://, https://); FINEHUB_INDEX_URL overrides it",
    "log_level": "logging level for finehub's loggers: DEBUG, INFO, WARNING or ERROR",
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
    if key == "log_level" and value is not None:
        value = value.upper()
        if value not in LOG_LEVELS:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    data = read()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    atomic_write_json(paths.config_file(), data)
    return data
