"""The PyTorch networks against TF.js itself: reference outputs computed once with TF.js (CPU backend)
by tests/fixtures/vision/reference.mjs on a deterministic pattern image, kept as strided slices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from finehub.modules._human_models import read_graph
from finehub.modules.human_segmentation import HumanSegmentation
from finehub.modules.object_detection_nanodet import ObjectDetectionNanoDet
from finehub.modules.pose_movenet import PoseMoveNet
from finehub.nn.nanodet import NanoDet, load_tfjs_weights
from finehub.nn.tfjs_graph import TfjsGraph

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures/vision/tfjs_reference.json").read_text())
pytestmark = pytest.mark.usefixtures("human_models")


def pattern(size: int) -> np.ndarray:
    """size×size×3 pixel values 0..255, the same formula as reference.mjs."""
    y, x, c = np.meshgrid(np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    return (x * 7 + y * 3 + c * 85 + ((x * y) >> 4)) % 256


def test_native_nanodet_matches_tfjs() -> None:
    net = NanoDet().eval()
    load_tfjs_weights(net, *read_graph(ObjectDetectionNanoDet.info))
    x = torch.from_numpy(((pattern(416) - 127.5) / 58).astype(np.float32).transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        logits, bins = net(x)
    levels = {52 * 52: 0, 26 * 26: 52 * 52, 13 * 13: 52 * 52 + 26 * 26}
    stride = REFERENCE["row_stride"]
    assert len(REFERENCE["nanodet"]) == 6
    for out in REFERENCE["nanodet"].values():
        anchors, width = out["shape"][1:]
        ours = (logits.sigmoid() if width == 80 else bins)[
            0, levels[anchors] : levels[anchors] + anchors : stride
        ]
        np.testing.assert_allclose(ours.numpy(), np.array(out["rows"]), atol=1e-4, rtol=1e-4)


def test_selfie_graph_matches_tfjs() -> None:
    net = TfjsGraph(*read_graph(HumanSegmentation.info)).eval()
    net.output_names = [REFERENCE["selfie"]["node"]]  # the logits: the mask is ~0 on this pattern
    with torch.no_grad():
        [logits] = net(torch.from_numpy((pattern(256) / 255).astype(np.float32))[None])
    step = REFERENCE["pixel_stride"]
    expected = np.array(REFERENCE["selfie"]["pixels"])
    assert expected.min() < -100 < -10 < expected.max()  # a real spread of values
    np.testing.assert_allclose(logits[0, ::step, ::step, 0].numpy().ravel(), expected, atol=2e-3, rtol=1e-4)


def test_movenet_graph_matches_tfjs() -> None:
    net = TfjsGraph(*read_graph(PoseMoveNet.info)).eval()
    with torch.no_grad():
        [points] = net(torch.from_numpy(pattern(192).astype(np.int32))[None])
    np.testing.assert_allclose(points.numpy().ravel(), REFERENCE["movenet"]["values"], atol=1e-4)


def test_weights_are_trainable_parameters() -> None:
    net = TfjsGraph(*read_graph(HumanSegmentation.info))
    params = list(net.parameters())
    assert sum(p.numel() for p in params) > 100_000 and all(p.requires_grad for p in params)
    net(torch.rand(1, 256, 256, 3))[0].mean().backward()
    assert all(p.grad is not None for p in params if p.dim() == 4)
