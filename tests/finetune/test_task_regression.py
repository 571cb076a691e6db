"""RegressionTask: metrics against scipy, mechanics on a tiny BERT, and a real fine-tuning run on
bbc-news-numeric that must beat predicting the train mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from finetune.finetune_support import tiny_backbone
from finetune.tasks_support import finetune, minilm, toy_sentence, toy_splits

import finehub as hub
import finehub.data.builtin.bbc_news_tasks  # noqa: F401  (registers the derived bbc-news datasets)
from finehub.data.dataset import Dataset, TextExample
from finehub.errors import ConfigError
from finehub.finetune.metrics import pearson, rmse, spearman
from finehub.finetune.tasks.regression import RegressionTask


def test_metrics_match_scipy() -> None:
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=300), 1)  # ties for the ranks
    y = x + rng.normal(size=300)
    assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(spearmanr(x, y)[0])
    assert rmse(x, y) == pytest.approx(math.sqrt(np.mean((x - y) ** 2)))
    assert pearson(np.ones(5), np.arange(5)) == 0.0  # a constant prediction tracks nothing


def toy_regression() -> Dataset:
    def example(rng):
        words = toy_sentence(rng)
        return TextExample(" ".join(words), 100.0 + sum(int(w[1:]) for w in words) / len(words))

    return Dataset("toy-rg", toy_splits(example), task="regression")


def test_mechanics_on_a_tiny_model(tmp_path) -> None:
    ds = toy_regression()
    task = RegressionTask(tiny_backbone(), max_seq_len=32)
    task.bind(ds)
    labels = np.array([ex.label for ex in ds.train])
    assert float(task.model.shift) == pytest.approx(labels.mean(), rel=1e-6)
    assert float(task.model.scale) == pytest.approx(labels.std(), rel=1e-5)
    batch = task.collate(task.encode(ds.train, split="train"), np.arange(4))
    out = task.model(**{k: v for k, v in batch.items() if k != "labels"})
    assert (
        out.shape == (4,) and abs(float(out.detach().mean()) - labels.mean()) < 3 * labels.std()
    )  # label units
    expected = torch.mean(((out - batch["labels"]) / task.model.scale) ** 2)
    assert task.loss(out, batch["labels"]).item() == pytest.approx(expected.item(), rel=1e-5)
    assert (
        task.greater_is_better
        and not RegressionTask(tiny_backbone(), max_seq_len=32, main_metric="rmse").greater_is_better
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=1, batch_size=8, lr=3e-3, num_threads=1)
    assert set(result.test_metrics) == {"loss", "pearson", "spearman", "rmse"}
    folder = trainer.export("toy-regressor", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    texts = ["w1 w2 w3", "w30 w31 w39"]
    assert module.regress(texts) == task.predict(texts)
    assert module.info.config["label_mean"] == pytest.approx(labels.mean(), rel=1e-6)


def test_rejects_class_labels() -> None:
    task = RegressionTask(tiny_backbone(), max_seq_len=16)
    classes = Dataset("c", {"train": [TextExample("w1", 0), TextExample("w2", 1)]}, ["x", "y"])
    with pytest.raises(ConfigError, match="regression"):
        task.bind(classes)


@pytest.mark.slow
def test_bbc_news_numeric_beats_the_mean(tmp_path) -> None:
    ds = hub.datasets.load("bbc-news-numeric").subset({"train": 192, "dev": 32, "test": 96})
    task = RegressionTask(minilm(), max_seq_len=64)
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=2)
    train_mean = np.mean([ex.label for ex in ds.train])
    test_labels = np.array([ex.label for ex in ds.test])
    mean_rmse = rmse(np.full_like(test_labels, train_mean), test_labels)  # the trivial baseline
    metrics = result.test_metrics
    assert metrics["pearson"] >= 0.4 and metrics["spearman"] >= 0.4  # baseline: 0
    assert metrics["rmse"] <= 0.9 * mean_rmse
    folder = trainer.export("bbc-numeric", output_dir=tmp_path / "export", install_module=False)
    text = ["Profits rose 12% to £3.4bn in 2004, up from £3bn in 2003."]
    assert hub.Module(str(folder)).regress(text) == task.predict(text)


def test_a_head_on_cached_features(tmp_path) -> None:
    """A frozen encoder's cached, standardised features train a hidden-layer head; the label scale
    still applies, and the export rebuilds the head and reads text."""
    backbone = tiny_backbone()
    backbone.model.requires_grad_(False)
    ds = toy_regression()
    task = RegressionTask(backbone, max_seq_len=32, cache_features=True, head_hidden_size=8)
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=3, batch_size=8, lr=3e-3, num_threads=1)
    features = task.encode(ds.train, split="train").features
    torch.testing.assert_close(task.model.feature_mean, torch.from_numpy(features.mean(axis=0)))
    labels = np.array([ex.label for ex in ds.train])
    assert float(task.model.shift) == pytest.approx(labels.mean(), rel=1e-6)
    folder = trainer.export("toy-cached-regressor", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    assert module.info.config["standardize_features"] is True and module.info.config["head_hidden_size"] == 8
    texts = ["w1 w2 w3", "w30 w31 w39"]
    assert [r["value"] for r in module.regress(texts)] == pytest.approx(
        [r["value"] for r in task.predict(texts)]
    )
