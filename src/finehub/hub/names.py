"""Module names, versions and entry references, checked in one place before any becomes a path or code.

Names and versions become folders (``FINEHUB_HOME/modules/<name>/<version>``) and file names, so
each must be one harmless path component:

- a name is what PEP 503 normalises: letters, digits, ``.``, ``_`` and ``-``, starting and ending
  with a letter or digit, without ``..`` (so ``..``, ``a/b``, ``.hidden`` and ``-rf`` are refused);
- a version is a PEP 440 version written with the characters PEP 440 allows (``1.0.0``, ``2.0rc1``,
  ``1!2.0+local.1``), with no spaces or separators.

An entry is ``package.module:Attr`` (an installed package) or ``path/file.py:Attr`` (a file inside a
folder module). :func:`check_entry` checks its form and that the code it names exists, without
importing anything.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from finehub.errors import InvalidManifestError, InvalidNameError

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.!+_-]*")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*")
_PY_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.py")


def check_name(name: object, *, where: str) -> str:
    """``name`` if it is a valid module name, else InvalidNameError naming ``where``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            where,
            "name",
            name,
            "is not a module name: use letters, digits, '.', '_' and '-', starting and ending with a "
            "letter or digit, without '..'",
        )
    return name


def is_valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and ".." not in name


def check_version(version: object, *, where: str) -> str:
    """``version`` if it is a PEP 440 version usable as a folder name, else InvalidNameError."""
    from packaging.version import InvalidVersion, Version

    problem = 'is not a PEP 440 version (write it as a string such as "1.0.0")'
    if not isinstance(version, str) or not _VERSION_CHARS.fullmatch(version):
        raise InvalidNameError(where, "version", version, problem)
    try:
        Version(version)
    except InvalidVersion as e:
        raise InvalidNameError(where, "version", version, problem) from e
    return version


def check_entry_form(entry: object, *, where: str) -> str:
    """``entry`` if it looks like ``package.module:Attr`` or ``path/file.py:Attr``."""
    target, _, attr = entry.partition(":") if isinstance(entry, str) else ("", "", "")
    if not re.fullmatch(_IDENTIFIER, attr) or not (_DOTTED.fullmatch(target) or _PY_FILE.fullmatch(target)):
        raise InvalidManifestError(
            where,
            f"entry {entry!r} must look like 'package.module:Class' or, in a folder module, 'file.py:Class'",
        )
    return entry


def check_entry(entry: object, *, where: str, folder: Path | None = None) -> str:
    """``entry`` if its form is valid and the code it names exists; imports nothing.

    A ``file.py:Attr`` entry must name a regular file inside ``folder`` (a folder module);
    ``package.module:Attr`` must name an installed top-level package.
    """
    target = check_entry_form(entry, where=where).partition(":")[0]
    if target.endswith(".py"):
        if folder is None:
            raise InvalidManifestError(where, f"entry {entry!r} names a file, but the module has no folder")
        if not _is_plain_file_inside(folder, target.split("/")):
            raise InvalidManifestError(
                where, f"entry file {target!r} is missing from the module folder (or not a regular file)"
            )
    elif importlib.util.find_spec(target.split(".")[0]) is None:
        raise InvalidManifestError(
            where,
            f"entry {entry!r} needs the package {target.split('.')[0]!r}, which is not installed; "
            "install it first (see the module's 'requirements')",
        )
    return entry


def _is_plain_file_inside(folder: Path, parts: list[str]) -> bool:
    """True when folder/parts... is a regular file reached without following any link."""
    path = folder
    for part in parts:
        path = path / part
        if path.is_symlink():
            return False
    return path.is_file()
