"""Export a task's current weights as a module folder that ``finehub.Module`` loads.

The folder holds the task's files (see the task's ``export_files``) and a ``module.json`` whose
assets pin every file by sha256. It is written into a temp folder beside the target and swapped
in with renames, so a reader (or a resumed run) never sees half a folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finehub._utils.hashing import sha256_file
from finehub._version import __version__
from finehub.finetune.tasks.base import Task
from finehub.hub.module import Asset, ModuleInfo


def export_folder(
    task: Task,
    folder: str | Path,
    *,
    name: str,
    version: str = "1.0.0",
    summary: str = "",
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``task``'s module into ``folder`` (replaced if present); ``provenance`` (base module,
    dataset, metrics...) is stored under ``config["finetuned"]``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        fields = task.export_files(tmp)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        assets = tuple(
            Asset(path=p.relative_to(tmp).as_posix(), sha256=sha256_file(p), size=p.stat().st_size)
            for p in files
        )
        config = dict(fields.pop("config"))
        if provenance:
            config["finetuned"] = dict(provenance)
        info = ModuleInfo(
            name=name,
            version=version,
            summary=summary or f"{fields['task']} model fine-tuned with finehub",
            finehub=f">={__version__},<1",
            assets=assets,
            config=config,
            **fields,
        )
        from finehub.hub.store import write_manifest

        write_manifest(tmp, info)
        for path in (tmp, *tmp.rglob("*")):  # temp files are private; an exported module is not
            path.chmod(0o755 if path.is_dir() else 0o644)
        swap_into_place(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def install(folder: Path) -> Path:
    """Install an exported folder into ``FINEHUB_HOME/modules/<name>/<version>`` (replacing an
    older export of the same version); returns the installed path."""
    from finehub.hub.store import install_folder

    return install_folder(folder, force=True).path


def swap_into_place(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``; an existing ``folder`` is moved aside first, then deleted."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
