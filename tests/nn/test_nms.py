"""NMS against hand-computed cases and a brute-force numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finehub.errors import ConfigError
from finehub.nn.nms import batched_nms, box_overlap, nms


def reference_nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str, inclusive: bool
) -> list[int]:
    """Definition of greedy NMS: visit boxes by decreasing score (ties: input order), keep a box
    unless a kept box overlaps it by more than ``threshold``."""
    extra = 1.0 if inclusive else 0.0

    def area(b: np.ndarray) -> float:
        return max(0.0, b[2] - b[0] + extra) * max(0.0, b[3] - b[1] + extra)

    def overlap(a: np.ndarray, b: np.ndarray) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + extra)
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + extra)
        inter = w * h
        denom = min(area(a), area(b)) if mode == "min" else area(a) + area(b) - inter
        return inter / max(denom, 1e-12)

    kept: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda i: (-scores[i], i)):
        if all(overlap(boxes[i], boxes[k]) <= threshold for k in kept):
            kept.append(i)
    return kept


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(1, 40, size=(n, 2))
    scores = rng.choice(np.linspace(0, 1, 25), size=n)  # repeated values exercise tie-breaking
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), scores.astype(np.float32)


def test_hand_computed_union_and_min() -> None:
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # score 0.9, kept
            [1.0, 1.0, 11.0, 11.0],  # IoU with box 0 = 81 / 119 = 0.68
            [2.0, 2.0, 6.0, 6.0],  # inside box 0: IoU 16/100 = 0.16, min-overlap 16/16 = 1
            [20.0, 20.0, 30.0, 30.0],  # far away
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert box_overlap(boxes[0], boxes[1:2]).item() == pytest.approx(81 / 119)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 2, 3]
    assert nms(boxes, scores, 0.5, mode="min").tolist() == [0, 3]
    # Inclusive pixels: box 0 spans 11×11 px, box 1 too, intersection 10×10 -> 100 / 142.
    assert box_overlap(boxes[0], boxes[1:2], inclusive=True).item() == pytest.approx(100 / 142)


def test_result_is_ordered_by_score_not_input() -> None:
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0], [9.0, 9.0, 10.0, 10.0]])
    assert nms(boxes, torch.tensor([0.2, 0.9, 0.5]), 0.5).tolist() == [1, 2, 0]


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_matches_brute_force(mode: str, inclusive: bool, threshold: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        boxes, scores = random_boxes(rng, 120)
        got = nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), threshold, mode=mode, inclusive=inclusive
        )
        assert got.tolist() == reference_nms(boxes, scores, threshold, mode, inclusive)


@pytest.mark.parametrize("mode", ["union", "min"])
def test_batched_equals_nms_per_group(mode: str) -> None:
    rng = np.random.default_rng(3)
    boxes, scores = random_boxes(rng, 200)
    groups = rng.integers(0, 4, size=200)
    got = batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(groups), 0.4, mode=mode
    )
    expected = []
    for g in range(4):
        members = np.flatnonzero(groups == g)
        expected += [members[i] for i in reference_nms(boxes[members], scores[members], 0.4, mode, False)]
    expected.sort(key=lambda i: (-scores[i], i))
    assert got.tolist() == expected
    # Boxes of different groups never suppress each other: identical boxes in two groups both survive.
    same = torch.tensor([[0.0, 0.0, 5.0, 5.0]] * 2)
    assert sorted(batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist()) == [0, 1]


def test_empty_input_and_bad_mode() -> None:
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).tolist() == []
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).tolist() == []
    with pytest.raises(ConfigError, match="'union' or 'min', got 'max'") as info:
        nms(torch.ones(1, 4), torch.ones(1), 0.5, mode="max")  # type: ignore[arg-type]
    assert info.value.field == "mode"
