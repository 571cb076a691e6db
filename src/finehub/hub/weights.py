"""Loading weights without pickle.

Runtime loading reads safetensors only. Pickle files (``.pt``, ``.pth``, ``.bin``, ``.ckpt``,
``.pkl``) are refused unless the caller passes ``allow_pickle=True``. Trusted packages that ship
pickles are handled once by :func:`convert_pinned_pickle`: the source file's sha256 must match the
value pinned in the module's metadata, then the tensors are written as safetensors under
``FINEHUB_HOME/converted/`` and every later load reads that file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from finehub._utils import paths
from finehub._utils.fs import atomic_path, file_lock
from finehub._utils.hashing import verify_sha256
from finehub.errors import PickleRefusedError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle"})


def load_state_dict(path: str | Path, *, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; a pickle file only with ``allow_pickle=True``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in PICKLE_SUFFIXES or _looks_like_pickle(path):
        if not allow_pickle:
            raise PickleRefusedError(str(path))
        import torch

        log.warning("Loading pickle-based weights from %s because allow_pickle=True was passed", path)
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
        return _as_state_dict(obj, path)
    raise PickleRefusedError(str(path))


def convert_pinned_pickle(src: str | Path, sha256: str, *, key: str) -> Path:
    """Safetensors copy of a pinned pickle weight file, converted once and cached.

    ``key`` names the cache entry (e.g. ``"efficientnet-lite0/1.0.0"``). The source must hash to
    ``sha256``; ``torch.load(weights_only=True)`` restricts the unpickler to tensors and containers.
    """
    src = Path(src)
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


def _as_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PickleRefusedError(f"{path} (it holds a {type(obj).__name__}, not a tensor dict)")
    return dict(obj)


def _looks_like_pickle(path: Path) -> bool:
    """Zip-based torch files and raw pickles both start with recognisable magic bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return head in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
