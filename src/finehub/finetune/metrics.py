"""Classification metrics from integer labels and predictions, in numpy (sklearn is not needed).

Averages are macro (every class weighs the same) and a class with no predicted or no true examples
scores 0 for the undefined ratio, as ``sklearn.metrics`` does with ``zero_division=0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "precision", "recall")
LOWER_IS_BETTER = frozenset({"loss", "rmse"})


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def check_metric_names(names: Sequence[str], main_metric: str, known: Sequence[str]) -> tuple[str, ...]:
    """Validate a task's metric choice; the main metric must be computed or be the dev loss."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError("metrics", f"unknown metric(s) {unknown}; choose from {list(known)}")
    if main_metric not in names and main_metric not in LOWER_IS_BETTER:
        raise ConfigError("main_metric", f"{main_metric!r} is not among metrics {list(names)} (or 'loss')")
    return tuple(names)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    import numpy as np

    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(preds, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def classification_metrics(
    labels: np.ndarray, preds: np.ndarray, num_classes: int, names: Sequence[str] = CLASSIFICATION_METRICS
) -> dict[str, float]:
    """The requested metrics; macro precision/recall/F1 average per-class values."""
    cm = confusion_matrix(labels, preds, num_classes)
    tp = cm.diagonal().astype("float64")
    precision = _ratio(tp, cm.sum(axis=0))
    recall = _ratio(tp, cm.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = cm.sum()
    values = {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
    }
    return {n: values[n] for n in names}
