"""The evaluation metrics every task reports, under the names reports, ``metrics.jsonl`` and autotune use.

Thin adapters over scikit-learn, scipy, seqeval and pycocotools, imported when a metric is computed so that
``import finehub`` stays light. They fix what the libraries leave to the caller:

- a ratio with nothing to divide by (a class never predicted, or never present) scores 0, and macro
  averages weigh every class of ``range(num_classes)`` alike, present or not (``zero_division=0``);
- AUC of a split holding one class only is NaN (callers leave it out of averages);
- a correlation with a constant side, or over fewer than two points, is 0 rather than scipy's NaN:
  a model that predicts one value then ranks below any that tracks the label;
- entities are read as conlleval reads them (seqeval's default mode): an ``I-X`` or ``E-X`` that does
  not continue an ``X`` entity starts one. That is the reading of the ``entities`` that predictions
  return (``modules.text_tasks.tagging.spans``), so what is scored is what users get;
- detection is scored by pycocotools' own COCOeval (mAP over IoU .5:.95, AP at .5 and .75, recall
  at 100 detections), silenced; a metric with nothing to score (no objects) is 0 rather than -1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "precision", "recall")
DETECTION_METRICS = ("map", "map50", "map75", "recall")
LOWER_IS_BETTER = frozenset({"loss", "rmse"})


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def check_metric_names(names: Sequence[str], main_metric: str, known: Sequence[str]) -> tuple[str, ...]:
    """Validate a task's metric choice; the main metric must be computed or be the dev loss."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError("metrics", f"must be a list of metric names from {list(known)}, got {names!r}")
    if not isinstance(main_metric, str):
        raise ConfigError("main_metric", f"must be a metric name, got {main_metric!r}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError("metrics", f"unknown metric(s) {unknown}; choose from {list(known)}")
    if main_metric not in names and main_metric not in LOWER_IS_BETTER:
        raise ConfigError("main_metric", f"{main_metric!r} is not among metrics {list(names)} (or 'loss')")
    return tuple(names)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    from sklearn import metrics

    return metrics.confusion_matrix(labels, preds, labels=list(range(num_classes)))


def classification_metrics(
    labels: np.ndarray, preds: np.ndarray, num_classes: int, names: Sequence[str] = CLASSIFICATION_METRICS
) -> dict[str, float]:
    """The requested metrics of integer ``labels`` and ``preds``; precision, recall and F1 are macro."""
    from sklearn import metrics

    precision, recall, f1, _ = metrics.precision_recall_fscore_support(
        labels, preds, labels=list(range(num_classes)), average="macro", zero_division=0
    )
    values = {
        "accuracy": metrics.accuracy_score(labels, preds),
        "macro_f1": f1,
        "precision": precision,
        "recall": recall,
    }
    return {n: float(values[n]) for n in names}


def f1_scores(labels: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    """(micro, macro) F1 of multi-hot N×L ``labels`` and ``preds``."""
    import numpy as np
    from sklearn.metrics import f1_score

    labels, preds = np.asarray(labels).astype(bool), np.asarray(preds).astype(bool)
    if labels.shape[1] == 1:  # sklearn would read one column as binary targets and score its zeros too
        f1 = float(f1_score(labels[:, 0], preds[:, 0], zero_division=0))
        return f1, f1
    micro = f1_score(labels, preds, average="micro", zero_division=0)
    macro = f1_score(labels, preds, average="macro", zero_division=0)
    return float(micro), float(macro)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of binary ``labels`` (0/1) for ``scores``; NaN with one class."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import pearsonr

    return _correlation(pearsonr, x, y)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return _correlation(spearmanr, x, y)


def _correlation(fn: Callable[..., Any], x: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or (x == x[0]).all() or (y == y[0]).all():
        return 0.0
    return float(fn(x, y).statistic)


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    import numpy as np
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(np.asarray(target, np.float64), np.asarray(pred, np.float64)))


def entity_scores(
    true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]
) -> dict[str, dict[str, float]]:
    """Entity-level precision, recall and F1 of tag sequences (IOB2 or BIOES; an entity counts when
    its type and both ends match): ``{"micro": {...}, "<TYPE>": {...}}`` with keys precision, recall,
    f1, support. A tag that is not ``B-``, ``I-``, ``E-`` or ``S-`` and a type reads as ``O``."""
    from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

    from finehub.modules.text_tasks.tagging import split_tag

    def entity_tags(seqs: Sequence[Sequence[str]]) -> list[list[str]]:  # seqeval wants lists of lists
        return [[t if split_tag(t)[1] else "O" for t in s] for s in seqs]

    true, pred = entity_tags(true), entity_tags(pred)

    def scores(average: str | None) -> list[dict[str, float]]:
        columns = precision_recall_fscore_support(true, pred, average=average, zero_division=0)
        rows = zip(*columns, strict=True) if average is None else [columns]
        keys = ("precision", "recall", "f1", "support")
        return [{k: float(v) for k, v in zip(keys, row, strict=True)} for row in rows]

    types = sorted({kind for tags in (true, pred) for kind, _, _ in get_entities(tags)})
    return {"micro": scores("micro")[0], **dict(zip(types, scores(None), strict=True))}


def detection_metrics(
    predictions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truths: Sequence[tuple[np.ndarray, np.ndarray]],
    label_names: Sequence[str],
    names: Sequence[str] = DETECTION_METRICS,
) -> dict[str, Any]:
    """COCO box metrics of per-image ``(boxes, scores, classes)`` against ``(boxes, classes)``
    (boxes x1 y1 x2 y2, one coordinate frame per image), plus per-class AP and recall."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box: np.ndarray) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    truth = [
        {"image_id": i, "category_id": int(c), "bbox": xywh(b), "iscrowd": 0}
        for i, (boxes, classes) in enumerate(truths)
        for b, c in zip(boxes, classes, strict=True)
    ]
    for k, ann in enumerate(truth):
        ann["id"], ann["area"] = k + 1, ann["bbox"][2] * ann["bbox"][3]
    found = [
        {"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
        for i, (boxes, scores, classes) in enumerate(predictions)
        for b, s, c in zip(boxes, scores, classes, strict=True)
    ]
    zeros = {n: 0.0 for n in names}
    per_class = {name: {"ap": 0.0, "recall": 0.0} for name in label_names}
    if not truth or not found:
        return {**zeros, "per_class": per_class}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(len(truths))],
            "annotations": truth,
            "categories": [{"id": c, "name": n} for c, n in enumerate(label_names)],
        }
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(found), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = {"map": 0, "map50": 1, "map75": 2, "recall": 8}
    out: dict[str, Any] = {n: max(float(evaluation.stats[stats[n]]), 0.0) for n in names}
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # IoU × recall × class (all areas, 100 dets)
    recall = evaluation.eval["recall"][:, :, 0, -1]  # IoU × class
    for c, name in enumerate(label_names):
        p, r = precision[:, :, c], recall[:, c]
        per_class[name] = {
            "ap": float(p[p > -1].mean()) if (p > -1).any() else 0.0,
            "recall": float(r[r > -1].mean()) if (r > -1).any() else 0.0,
        }
    out["per_class"] = per_class
    return out
