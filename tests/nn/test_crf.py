"""The CRF against brute force: every tag sequence of tiny problems enumerated."""

from __future__ import annotations

import itertools

import pytest
import torch

from finehub.nn.crf import CRF, compact


def random_crf(num_tags: int, seed: int) -> CRF:
    crf = CRF(num_tags)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (crf.start, crf.end, crf.transitions):
            p.copy_(torch.randn(p.shape, generator=g))
    return crf


def path_score(crf: CRF, emissions: torch.Tensor, tags: tuple[int, ...]) -> float:
    s = crf.start[tags[0]] + crf.end[tags[-1]] + sum(emissions[i, t] for i, t in enumerate(tags))
    s = s + sum(crf.transitions[a, b] for a, b in itertools.pairwise(tags))
    return float(s.detach())


@pytest.mark.parametrize("seed", range(4))
def test_nll_and_viterbi_match_enumeration(seed: int) -> None:
    num_tags, lengths = 3, [4, 1, 3]
    crf = random_crf(num_tags, seed)
    g = torch.Generator().manual_seed(100 + seed)
    emissions = torch.randn(len(lengths), max(lengths), num_tags, generator=g)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    gold = torch.randint(0, num_tags, (len(lengths), max(lengths)), generator=g)
    nll = crf.nll(emissions, gold, mask)
    decoded = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(num_tags), repeat=n))
        scores = torch.tensor([path_score(crf, emissions[b], p) for p in paths])
        log_z = torch.logsumexp(scores, 0)
        expected = log_z - path_score(crf, emissions[b], tuple(gold[b, :n].tolist()))
        assert nll[b].item() == pytest.approx(expected.item(), abs=1e-4)
        assert tuple(decoded[b]) == paths[int(scores.argmax())]


def test_nll_is_differentiable_and_probabilities_sum_to_one() -> None:
    crf = random_crf(2, 7)
    emissions = torch.randn(1, 3, 2, requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    probs = [
        torch.exp(-crf.nll(emissions, torch.tensor([p]), mask)) for p in itertools.product(range(2), repeat=3)
    ]
    assert sum(p.item() for p in probs) == pytest.approx(1.0, abs=1e-5)
    crf.nll(emissions, torch.tensor([[0, 1, 1]]), mask).sum().backward()
    assert emissions.grad is not None and crf.transitions.grad is not None


def test_empty_rows_score_zero_and_decode_empty() -> None:
    crf = random_crf(3, 1)
    emissions = torch.randn(2, 2, 3)
    mask = torch.tensor([[True, True], [False, False]])
    tags = torch.tensor([[1, 2], [0, 0]])
    assert crf.nll(emissions, tags, mask)[1].item() == 0.0
    assert crf.decode(emissions, mask)[1] == []


def test_compact_left_aligns_kept_positions() -> None:
    values = torch.arange(12, dtype=torch.float32).reshape(2, 6)
    keep = torch.tensor([[False, True, False, True, True, False], [True, False, False, False, False, False]])
    packed, mask = compact(values, keep)
    assert packed.tolist() == [[1, 3, 4], [6, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    feats = torch.randn(2, 6, 4)
    packed3, _ = compact(feats, keep)
    assert torch.equal(packed3[0], feats[0, [1, 3, 4]])
