"""Evaluation metrics: named adapters over scikit-learn, scipy and seqeval, checked against the numpy
implementations finehub used before (kept below as the reference) on random and edge-case inputs.

Where the two could differ, the adapter keeps the reference's convention: zero_division=0, macro
averages over every class of range(num_classes), NaN AUC for one class, 0 for a correlation with a
constant side, tags without a B/I/E/S prefix and a type read as O.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from finehub.errors import ConfigError
from finehub.finetune.metrics import (
    auc,
    check_metric_names,
    classification_metrics,
    confusion_matrix,
    entity_scores,
    f1_scores,
    pearson,
    rmse,
    spearman,
)
from finehub.modules.text_tasks.tagging import spans

pytestmark = pytest.mark.filterwarnings("error")  # no UndefinedMetricWarning, ConstantInputWarning...

# --- the reference: finehub's former numpy implementations, used only to check parity ------------


def reference_confusion_matrix(labels, preds, num_classes):
    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(preds, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def reference_ratio(num, den):
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def reference_classification_metrics(labels, preds, num_classes):
    cm = reference_confusion_matrix(labels, preds, num_classes)
    tp = cm.diagonal().astype("float64")
    precision = reference_ratio(tp, cm.sum(axis=0))
    recall = reference_ratio(tp, cm.sum(axis=1))
    f1 = reference_ratio(2 * precision * recall, precision + recall)
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
    }


def reference_ranks(x):
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2
    return ranks


def reference_auc(labels, scores):
    labels = np.asarray(labels).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = reference_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def reference_pearson(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / den) if den > 0 else 0.0


def reference_spearman(x, y):
    return reference_pearson(
        reference_ranks(np.asarray(x, dtype=np.float64)), reference_ranks(np.asarray(y, dtype=np.float64))
    )


def reference_rmse(pred, target):
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.sqrt((diff * diff).mean()))


def reference_f1_scores(labels, preds):
    labels, preds = np.asarray(labels).astype(bool), np.asarray(preds).astype(bool)
    tp = (labels & preds).sum(0).astype(np.float64)
    fp, fn = (~labels & preds).sum(0), (labels & ~preds).sum(0)
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / micro_den) if micro_den else 0.0
    den = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    return micro, float(per_label.mean())


def reference_entity_scores(true, pred):
    """Spans are read by ``tagging.spans``, which predictions still use."""
    tp, n_true, n_pred = Counter(), Counter(), Counter()
    for t_tags, p_tags in zip(true, pred, strict=True):
        t_spans, p_spans = set(spans(t_tags)), set(spans(p_tags))
        n_true.update(s.type for s in t_spans)
        n_pred.update(s.type for s in p_spans)
        tp.update(s.type for s in t_spans & p_spans)

    def score(hit, n_p, n_t):
        precision = hit / n_p if n_p else 0.0
        recall = hit / n_t if n_t else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": float(n_t)}

    out = {"micro": score(sum(tp.values()), sum(n_pred.values()), sum(n_true.values()))}
    for kind in sorted(set(n_true) | set(n_pred)):
        out[kind] = score(tp[kind], n_pred[kind], n_true[kind])
    return out


def assert_close(new: dict, old: dict) -> None:
    assert list(new) == list(old)
    for key, value in old.items():
        if isinstance(value, dict):
            assert_close(new[key], value)
        else:
            assert new[key] == pytest.approx(value, abs=1e-12), key


# --- classification ---------------------------------------------------------------------------

# 3 classes; by hand: rows = true, columns = predicted
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
PREDS = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 1])


def test_confusion_matrix_and_metrics_by_hand() -> None:
    assert confusion_matrix(LABELS, PREDS, 3).tolist() == [[2, 1, 0], [0, 2, 1], [1, 0, 3]]
    m = classification_metrics(LABELS, PREDS, 3)
    # precision per class: 2/3, 2/3, 3/4; recall: 2/3, 2/3, 3/4; F1 = same as P = R per class
    assert m["accuracy"] == pytest.approx(7 / 10)
    for name in ("precision", "recall", "macro_f1"):
        assert m[name] == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3)
    assert list(classification_metrics(LABELS, PREDS, 3, ["macro_f1"])) == ["macro_f1"]


CLASSIFICATION_EDGES = {
    "a class never true nor predicted": ([0, 1, 1, 0], [0, 1, 0, 0], 4),
    "a class true but never predicted": ([0, 1, 2, 2], [0, 1, 1, 1], 3),
    "a class predicted but never true": ([0, 0, 1], [2, 0, 1], 3),
    "one class only, all right": ([1, 1, 1], [1, 1, 1], 2),
    "one class only, all wrong": ([0, 0, 0], [1, 1, 1], 2),
    "one example": ([2], [2], 3),
}


@pytest.mark.parametrize("case", list(CLASSIFICATION_EDGES))
def test_classification_parity_on_edge_cases(case: str) -> None:
    labels, preds, n = (np.array(v) if isinstance(v, list) else v for v in CLASSIFICATION_EDGES[case])
    assert_close(classification_metrics(labels, preds, n), reference_classification_metrics(labels, preds, n))
    assert (
        confusion_matrix(labels, preds, n).tolist() == reference_confusion_matrix(labels, preds, n).tolist()
    )


@pytest.mark.parametrize("seed", range(20))
def test_classification_parity_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, size = int(rng.integers(2, 8)), int(rng.integers(1, 300))
    labels = rng.integers(0, n, size)
    preds = np.where(rng.random(size) < rng.random(), labels, rng.integers(0, n, size))
    assert_close(classification_metrics(labels, preds, n), reference_classification_metrics(labels, preds, n))
    assert (
        confusion_matrix(labels, preds, n).tolist() == reference_confusion_matrix(labels, preds, n).tolist()
    )


# --- multi-label F1 and AUC ---------------------------------------------------------------------

F1_EDGES = {
    "a label never true nor predicted": ([[1, 0, 0], [0, 1, 0]], [[1, 0, 0], [1, 1, 0]]),
    "nothing true, nothing predicted": ([[0, 0], [0, 0]], [[0, 0], [0, 0]]),
    "everything predicted": ([[1, 0], [0, 1], [1, 1]], [[1, 1], [1, 1], [1, 1]]),
    # sklearn reads one column as binary targets and would score the zeros too: the adapter does not
    "one label": ([[1], [0], [0], [1]], [[1], [0], [0], [0]]),
    "one label, never true nor predicted": ([[0], [0]], [[0], [0]]),
}


@pytest.mark.parametrize("case", list(F1_EDGES))
def test_multilabel_f1_parity_on_edge_cases(case: str) -> None:
    labels, preds = (np.array(v, dtype=bool) for v in F1_EDGES[case])
    assert f1_scores(labels, preds) == pytest.approx(reference_f1_scores(labels, preds))


@pytest.mark.parametrize("seed", range(20))
def test_multilabel_f1_parity_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size, n = int(rng.integers(1, 100)), int(rng.integers(1, 6))
    labels = rng.random((size, n)) < rng.random(n)  # some labels rare or absent
    preds = rng.random((size, n)) < rng.random(n)
    assert f1_scores(labels, preds) == pytest.approx(reference_f1_scores(labels, preds))


@pytest.mark.parametrize("seed", range(20))
def test_auc_parity_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 200))
    labels = (rng.random(size) < 0.4).astype(int)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(size) + 0.3 * labels, int(rng.integers(0, 3)))  # rounding makes ties
    assert auc(labels, scores) == pytest.approx(reference_auc(labels, scores))


def test_auc_edge_cases() -> None:
    assert np.isnan(auc(np.ones(5), np.arange(5))) and np.isnan(reference_auc(np.ones(5), np.arange(5)))
    assert np.isnan(auc(np.zeros(3), np.arange(3)))
    assert auc([0, 1, 0, 1], [0.5] * 4) == reference_auc([0, 1, 0, 1], [0.5] * 4) == 0.5  # all tied
    assert auc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0 and auc([1, 0], [0.1, 0.9]) == 0.0


# --- correlations and RMSE --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_correlation_and_rmse_parity_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 200))
    y = rng.normal(size=size)
    x = (y * rng.random() + rng.normal(size=size)).astype(np.float32)  # model outputs are float32
    if seed % 2:
        x, y = np.round(x), np.round(y)  # ties
    assert pearson(x, y) == pytest.approx(reference_pearson(x, y), abs=1e-12)
    assert spearman(x, y) == pytest.approx(reference_spearman(x, y), abs=1e-12)
    assert rmse(x, y) == pytest.approx(reference_rmse(x, y))


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),  # a constant prediction tracks nothing: 0, not NaN
        ([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]),
        ([0.1] * 10, list(range(10))),  # constant, though its mean is not exactly 0.1 in floats
        ([3.0], [5.0]),  # one point
        ([1.0, 2.0], [2.0, 1.0]),  # two points: -1
    ],
)
def test_correlation_edge_cases(x: list[float], y: list[float]) -> None:
    assert pearson(x, y) == pytest.approx(reference_pearson(x, y), abs=1e-12)
    assert spearman(x, y) == pytest.approx(reference_spearman(x, y), abs=1e-12)
    assert rmse(x, y) == pytest.approx(reference_rmse(x, y))


# --- entities -----------------------------------------------------------------------------------

ENTITY_EDGES = {
    "counts exact matches only": (
        [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]],
        [["B-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG"]],  # PER right, LOC missed, ORG too long
    ),
    "all O": ([["O", "O"], ["O"]], [["O", "O"], ["O"]]),
    "all O predicted": ([["B-PER", "O"]], [["O", "O"]]),
    "nothing true": ([["O", "O"]], [["B-LOC", "O"]]),
    "empty sentences": ([[], ["B-PER"]], [[], ["B-PER"]]),
    # a word cut into sub-words, its middle one predicted O: two broken pieces, neither counts
    "entity broken across sub-words": ([["B-PER", "I-PER", "I-PER"]], [["B-PER", "O", "I-PER"]]),
    "I- without B- starts an entity (conlleval)": ([["O", "I-PER", "I-PER"]], [["O", "B-PER", "I-PER"]]),
    "type change inside an entity": ([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]]),
    "BIOES": (
        [["S-ORG", "B-PER", "I-PER", "E-PER", "O", "S-LOC"]],
        [["S-ORG", "B-PER", "E-PER", "S-PER", "O", "B-LOC"]],
    ),
    "tags without a scheme read as O": ([["PER", "B-PER", "X-LOC"]], [["PER", "B-PER", "O"]]),
    "entities do not run across sentences": ([["O", "B-PER"], ["I-PER"]], [["O", "B-PER"], ["B-PER"]]),
}


@pytest.mark.parametrize("case", list(ENTITY_EDGES))
def test_entity_parity_on_edge_cases(case: str) -> None:
    true, pred = ENTITY_EDGES[case]
    assert_close(entity_scores(true, pred), reference_entity_scores(true, pred))


def test_entity_scores_by_hand() -> None:
    scores = entity_scores(*ENTITY_EDGES["counts exact matches only"])
    assert scores["micro"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 3, "f1": 0.4, "support": 3})
    assert scores["PER"]["f1"] == 1.0 and scores["LOC"]["recall"] == 0.0 and scores["LOC"]["support"] == 1
    assert entity_scores(*ENTITY_EDGES["entity broken across sub-words"])["micro"]["precision"] == 0.0


def random_tags(rng: np.random.Generator, length: int, prefixes: str) -> list[str]:
    choices = ["O", *(f"{p}-{t}" for p, t in itertools.product(prefixes, ("PER", "LOC", "ORG")))]
    return [choices[i] for i in rng.integers(0, len(choices), length)]


@pytest.mark.parametrize(("seed", "prefixes"), [(s, p) for s in range(10) for p in ("BI", "BIES")])
def test_entity_parity_on_random_inputs(seed: int, prefixes: str) -> None:
    rng = np.random.default_rng(seed)
    true = [random_tags(rng, int(rng.integers(0, 12)), prefixes) for _ in range(20)]
    pred = [[t if rng.random() < 0.7 else random_tags(rng, 1, prefixes)[0] for t in s] for s in true]
    assert_close(entity_scores(true, pred), reference_entity_scores(true, pred))


def test_bad_metric_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="metrics: unknown metric"):
        check_metric_names(["accuracy", "auc"], "accuracy", ["accuracy", "macro_f1"])
    with pytest.raises(ConfigError, match="main_metric"):
        check_metric_names(["accuracy"], "macro_f1", ["accuracy", "macro_f1"])
    assert check_metric_names(["accuracy"], "loss", ["accuracy"]) == ("accuracy",)
