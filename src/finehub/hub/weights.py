"""Loading weights without pickle.

Runtime loading reads safetensors only. Pickle files are refused unless the caller passes
``allow_pickle=True``; :func:`is_pickle` knows them by name (``.pt``, ``.pth``, ``.pth.tar``,
``.bin``, ``.ckpt``, ``.pkl``, ``.pickle``, ``.joblib``, in any case) and by content (a raw pickle
of protocol 2 to 5, or a zip holding ``*.pkl`` as ``torch.save`` writes), so renaming one does not
get it past the check. Trusted packages that ship
pickles are handled once by :func:`convert_pinned_pickle`: the source file's sha256 must match the
value pinned in the module's metadata, then the tensors are written as safetensors under
``FINEHUB_HOME/converted/`` and every later load reads that file. Weights in other formats (ONNX,
quantised files) become a whole folder once, through :func:`convert_once`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from finehub._utils import paths
from finehub._utils.fs import atomic_path, file_lock
from finehub._utils.hashing import check_sha256, verify_sha256
from finehub.errors import PickleRefusedError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib"})
_ZIP_MAGIC = b"PK\x03\x04"
_SAFETENSORS_MAX_HEADER = 100 << 20  # the format's own limit


def is_pickle(path: str | Path) -> bool:
    """True when ``path`` is a pickle by its name (any case, ``.pth.tar`` included) or its content."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if (suffixes and suffixes[-1] in PICKLE_SUFFIXES) or suffixes[-2:] == [".pth", ".tar"]:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head.startswith(_ZIP_MAGIC):
                with zipfile.ZipFile(fh) as zf:
                    return any(n.lower().endswith(".pkl") for n in zf.namelist())
            return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5 and not _is_safetensors(fh, head)
    except (OSError, zipfile.BadZipFile):
        return False


def _is_safetensors(fh: BinaryIO, head: bytes) -> bool:
    """A safetensors file starts with its JSON header's length (8 bytes, little endian), which can
    look like pickle's protocol opcode; it is one when that header parses."""
    size = int.from_bytes(head, "little")
    if len(head) < 8 or not 2 <= size <= _SAFETENSORS_MAX_HEADER:
        return False
    try:
        return isinstance(json.loads(fh.read(size)), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def load_state_dict(path: str | Path, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; a pickle file only with ``allow_pickle=True``."""
    path = Path(path)
    if is_pickle(path):
        if not allow_pickle:
            raise PickleRefusedError(str(path))
        import torch

        log.warning("Loading pickle-based weights from %s because allow_pickle=True was passed", path)
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
        return _as_state_dict(obj, path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    raise PickleRefusedError(str(path))


def convert_pinned_pickle(src: str | Path, sha256: str, *, key: str) -> Path:
    """Safetensors copy of a pinned pickle weight file, converted once and cached.

    ``key`` names the cache entry (e.g. ``"efficientnet-lite0/1.0.0"``). The source must hash to
    ``sha256``; ``torch.load(weights_only=True)`` restricts the unpickler to tensors and containers.
    """
    src = Path(src)
    sha256 = check_sha256(sha256, where=f"the pinned weights of {key}")
    dest = paths.converted_dir() / key / f"{sha256[:16]}.safetensors"
    if dest.exists():
        return dest
    with file_lock(dest.with_suffix(".lock")):
        if dest.exists():
            return dest
        verify_sha256(src, sha256)
        import torch
        from safetensors.torch import save_file

        obj = torch.load(str(src), map_location="cpu", weights_only=True)
        tensors = {k: v.contiguous().clone() for k, v in _as_state_dict(obj, src).items()}
        with atomic_path(dest) as tmp:
            save_file(tensors, str(tmp))
        log.info("Converted %s to %s", src, dest)
    return dest


def convert_once(name: str, sha256: str, marker: str, write: Callable[[Path], None]) -> Path:
    """``FINEHUB_HOME/converted/<name>/<sha256[:16]>/``, filled once by ``write(folder)``.

    ``sha256`` is the pinned hash of the main source file, so new sources get a new folder;
    ``marker`` is the file ``write`` writes that says the folder is complete. ``write`` fills a
    private temp folder beside the destination, renamed into place under a lock, so concurrent
    processes convert once and a killed conversion leaves nothing half-written behind.
    """
    dest = paths.converted_dir() / name / sha256[:16]
    if (dest / marker).is_file():
        return dest
    with file_lock(dest.with_name(dest.name + ".lock")):
        if (dest / marker).is_file():
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            write(tmp)
            for path in (tmp, *tmp.iterdir()):  # temp files are private; the folder is not
                path.chmod(0o755 if path.is_dir() else 0o644)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("Converted %s into %s", name, dest)
    return dest


def _as_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PickleRefusedError(f"{path} (it holds a {type(obj).__name__}, not a tensor dict)")
    return dict(obj)
