import numpy as np
import pytest

from finehub.errors import ConfigError
from finehub.finetune.metrics import check_metric_names, classification_metrics, confusion_matrix

# 3 classes; by hand: rows = true, columns = predicted
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
PREDS = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 1])


def test_confusion_matrix_by_hand():
    assert confusion_matrix(LABELS, PREDS, 3).tolist() == [[2, 1, 0], [0, 2, 1], [1, 0, 3]]


def test_metrics_by_hand():
    m = classification_metrics(LABELS, PREDS, 3)
    # precision per class: 2/3, 2/3, 3/4; recall: 2/3, 2/3, 3/4; F1 = same as P = R per class
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["precision"] == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 3 / 4) / 3)


def test_matches_sklearn_on_random_data_with_an_unpredicted_class():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    preds = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 3, 200))  # class 3 rarely/never predicted
    preds[preds == 3] = 0
    m = classification_metrics(labels, preds, 4)
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(labels, preds))
    assert m["macro_f1"] == pytest.approx(metrics.f1_score(labels, preds, average="macro", zero_division=0))
    assert m["precision"] == pytest.approx(
        metrics.precision_score(labels, preds, average="macro", zero_division=0)
    )
    assert m["recall"] == pytest.approx(metrics.recall_score(labels, preds, average="macro", zero_division=0))
    assert (
        confusion_matrix(labels, preds, 4).tolist()
        == metrics.confusion_matrix(labels, preds, labels=range(4)).tolist()
    )


def test_only_requested_metrics_are_returned():
    assert list(classification_metrics(LABELS, PREDS, 3, ["macro_f1"])) == ["macro_f1"]


def test_bad_metric_names_are_config_errors():
    with pytest.raises(ConfigError, match="metrics: unknown metric"):
        check_metric_names(["accuracy", "auc"], "accuracy", ["accuracy", "macro_f1"])
    with pytest.raises(ConfigError, match="main_metric"):
        check_metric_names(["accuracy"], "macro_f1", ["accuracy", "macro_f1"])
    assert check_metric_names(["accuracy"], "loss", ["accuracy"]) == ("accuracy",)
