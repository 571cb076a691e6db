"""Entity spans and the numpy Viterbi (scoring lives in finehub.finetune.metrics)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from finehub.modules.text_tasks.tagging import Span, spans, viterbi


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


@pytest.mark.parametrize("prefixes", ["BI", "BIES"])
def test_spans_read_tags_as_the_entity_scorer_does(prefixes: str) -> None:
    """Predictions' entities and fine-tuning's entity scores (seqeval, default mode) agree."""
    from seqeval.metrics.sequence_labeling import get_entities

    rng = np.random.default_rng(0)
    tags = ["O", *(f"{p}-{t}" for p in prefixes for t in ("PER", "LOC"))]
    for _ in range(300):
        seq = [tags[i] for i in rng.integers(0, len(tags), int(rng.integers(0, 10)))]
        assert spans(seq) == [Span(kind, start, end + 1) for kind, start, end in get_entities(seq)], seq


def test_importing_tagging_loads_no_scorer_or_torch() -> None:
    """The ONNX runtime reads entities with this module; it must stay free of training packages."""
    code = (
        "import sys, finehub.modules.text_tasks.tagging; "
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'seqeval') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
