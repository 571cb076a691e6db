"""Choosing the device a model runs on, and whether it can compute in bfloat16 there."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import torch

DISABLE_BF16_ENV = "FINEHUB_DISABLE_BF16"


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
    """Native bfloat16 matmuls: an Ampere+ GPU, or a CPU with AVX512-BF16/AMX (oneDNN's check).

    ``FINEHUB_DISABLE_BF16=1`` answers False everywhere, so the fp32 paths (and their tests) can
    be exercised on hardware that does have bf16.
    """
    if os.environ.get(DISABLE_BF16_ENV) == "1":
        return False
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
