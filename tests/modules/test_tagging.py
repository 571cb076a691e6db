"""Entity spans, entity-level scores and the numpy Viterbi."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from finehub.modules.text_tasks.tagging import Span, entity_scores, spans, viterbi


def test_spans_iob2_and_bioes() -> None:
    assert spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        Span("PER", 0, 2),
        Span("LOC", 3, 4),
        Span("LOC", 4, 6),
    ]
    assert spans(["S-ORG", "B-PER", "I-PER", "E-PER", "O", "S-LOC"]) == [
        Span("ORG", 0, 1),
        Span("PER", 1, 4),
        Span("LOC", 5, 6),
    ]
    # conlleval: an I- that does not continue an entity of its type starts one
    assert spans(["O", "I-PER", "I-LOC", "I-LOC"]) == [Span("PER", 1, 2), Span("LOC", 2, 4)]
    assert spans([]) == [] and spans(["O", "O"]) == []


def test_entity_scores_count_exact_matches_only() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG"]]  # PER right, LOC missed, ORG too long
    scores = entity_scores(true, pred)
    assert scores["micro"]["precision"] == pytest.approx(1 / 2)
    assert scores["micro"]["recall"] == pytest.approx(1 / 3)
    assert scores["micro"]["f1"] == pytest.approx(0.4)
    assert scores["PER"]["f1"] == 1.0 and scores["LOC"]["recall"] == 0.0 and scores["LOC"]["support"] == 1


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tags, length = 3, 1 + seed % 4
    emissions, start, end = rng.normal(size=(length, tags)), rng.normal(size=tags), rng.normal(size=tags)
    transitions = rng.normal(size=(tags, tags))

    def score(path: tuple[int, ...]) -> float:
        s = start[path[0]] + end[path[-1]] + sum(emissions[i, t] for i, t in enumerate(path))
        return s + sum(transitions[a, b] for a, b in itertools.pairwise(path))

    best = max(itertools.product(range(tags), repeat=length), key=score)
    assert tuple(viterbi(emissions, start, end, transitions)) == best
