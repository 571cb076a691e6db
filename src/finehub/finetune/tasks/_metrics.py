"""Metrics of the multi-label, regression and matching tasks, in numpy.

AUC is the Mann-Whitney statistic with tied scores counted half, as ``sklearn.metrics.roc_auc_score``;
Spearman is Pearson on average ranks, as ``scipy.stats.spearmanr``. AUC of a split holding one
class only is NaN (callers leave it out of averages); a correlation with a constant side is 0 (no
linear association), so a model that predicts one value ranks below any that tracks the label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    import numpy as np

    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of binary ``labels`` (0/1) for ``scores``; NaN with one class."""
    import numpy as np

    labels = np.asarray(labels).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = _ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / den) if den > 0 else 0.0


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    return pearson(_ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64)))


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    import numpy as np

    diff = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.sqrt((diff * diff).mean()))


def f1_scores(labels: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    """(micro, macro) F1 of multi-hot N×L ``labels`` and ``preds``; a label with no true and no
    predicted positive scores 0 in the macro average, as sklearn's ``zero_division=0``."""
    import numpy as np

    labels, preds = np.asarray(labels).astype(bool), np.asarray(preds).astype(bool)
    tp = (labels & preds).sum(0).astype(np.float64)
    fp, fn = (~labels & preds).sum(0), (labels & ~preds).sum(0)
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / micro_den) if micro_den else 0.0
    den = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    return micro, float(per_label.mean())
