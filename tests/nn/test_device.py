"""Device choice and the bf16 switch."""

from __future__ import annotations

import pytest
import torch

from finehub.errors import ConfigError
from finehub.nn.device import bf16_supported, pick_device


def test_pick_device_takes_what_is_asked_and_refuses_what_is_not_there() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="'gpu0' is not a device") as info:
        pick_device("gpu0")
    assert info.value.field == "device"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is available"):
            pick_device("cuda:1")


def test_finehub_disable_bf16_turns_bf16_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEHUB_DISABLE_BF16", "1")
    assert bf16_supported(torch.device("cpu")) is False
    assert bf16_supported(torch.device("cuda")) is False  # answered without asking the GPU
    monkeypatch.setenv("FINEHUB_DISABLE_BF16", "0")
    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert bf16_supported(torch.device("cpu")) == native
