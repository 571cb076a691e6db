"""embed's onnxruntime engine (precision="onnx"): checked against torch, cached, logged."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from finehub.modules.minilm_l6 import MiniLML6
from finehub.modules.text_encoder import onnx_engine

TEXTS = [
    "The cat sat on the mat.",
    "Shares in the company rose sharply after it reported record profits for the third quarter.",
    "Rain later.",
]


@pytest.fixture(scope="module")
def torch_fp32() -> MiniLML6:
    return MiniLML6(device="cpu", precision="fp32")


def test_onnx_embeds_with_onnxruntime_like_torch(
    torch_fp32: MiniLML6, caplog: pytest.LogCaptureFixture
) -> None:
    assert torch_fp32.engine == "torch"
    assert MiniLML6(device="cpu").engine == "torch"  # "auto" never picks it
    with caplog.at_level(logging.INFO, logger="finehub.modules.text_encoder"):
        auto = MiniLML6(device="cpu", precision="onnx")
        assert (auto.engine, auto.precision) == ("onnxruntime", "fp32")
        ours = auto.embed(TEXTS)
    assert auto.engine == "onnxruntime"  # the parity check passed
    assert "minilm-l6: embedding with onnxruntime fp32" in caplog.text
    assert ours.dtype == np.float32 and ours.shape == (3, 384)
    assert np.sum(ours * torch_fp32.embed(TEXTS), axis=1).min() >= 0.999
    # the traced graph is cached: a second module reuses the same file
    graph = auto._onnx.path
    written = graph.stat().st_mtime_ns
    again = MiniLML6(device="cpu", precision="onnx")
    again.embed(TEXTS[:1])
    assert again._onnx.path == graph and graph.stat().st_mtime_ns == written


def test_a_graph_that_strays_from_torch_is_not_used(
    torch_fp32: MiniLML6, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(onnx_engine, "PARITY", 1.5)  # no cosine reaches it
    auto = MiniLML6(device="cpu", precision="onnx")
    with caplog.at_level(logging.WARNING, logger="finehub.modules.text_encoder"):
        ours = auto.embed(TEXTS)
    assert auto.engine == "torch" and "embedding with torch fp32" in caplog.text
    np.testing.assert_allclose(ours, torch_fp32.embed(TEXTS), atol=1e-6)
