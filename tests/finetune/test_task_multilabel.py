"""MultiLabelClassificationTask: metrics against scikit-learn, mechanics on a tiny BERT, and a real
fine-tuning run on bbc-news-multilabel that must beat the trivial baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from finetune.finetune_support import tiny_backbone
from finetune.tasks_support import finetune, minilm, toy_sentence, toy_splits

import finehub as hub
import finehub.data.builtin.bbc_news_tasks  # noqa: F401  (registers the derived bbc-news datasets)
from finehub.data.dataset import Dataset, TextExample
from finehub.errors import ConfigError
from finehub.finetune.metrics import auc, f1_scores
from finehub.finetune.tasks.multilabel import MultiLabelClassificationTask, MultiLabelClassifierTask


def test_metrics_match_sklearn() -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (200, 4))
    scores = np.round(rng.random((200, 4)) + labels * 0.3, 1)  # rounded: ties must count half
    for c in range(4):
        assert auc(labels[:, c], scores[:, c]) == pytest.approx(roc_auc_score(labels[:, c], scores[:, c]))
    preds = scores >= 0.7
    micro, macro = f1_scores(labels, preds)
    assert micro == pytest.approx(f1_score(labels, preds, average="micro"))
    assert macro == pytest.approx(f1_score(labels, preds, average="macro", zero_division=0))
    assert np.isnan(auc(np.ones(5), np.arange(5)))


def toy_multilabel() -> Dataset:
    def example(rng):
        words = toy_sentence(rng)
        return TextExample(" ".join(words), tuple(sorted({int(w[1:]) % 3 for w in words[:2]})))

    return Dataset("toy-ml", toy_splits(example), ["a", "b", "c"], task="multilabel")


def test_mechanics_on_a_tiny_model(tmp_path) -> None:
    assert MultiLabelClassifierTask is MultiLabelClassificationTask
    ds = toy_multilabel()
    task = MultiLabelClassificationTask(tiny_backbone(), num_classes=3, max_seq_len=32, threshold=0.4)
    split = task.encode(ds.train, split="train")
    assert split.labels.shape == (48, 3) and set(np.unique(split.labels)) <= {0.0, 1.0}
    batch = task.collate(split, np.arange(4))
    logits = task.model(**{k: v for k, v in batch.items() if k != "labels"})
    assert logits.shape == (4, 3)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"])
    assert task.loss(logits, batch["labels"]).item() == pytest.approx(expected.item())
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=1, batch_size=8, lr=3e-3, num_threads=1)
    assert {"auc", "micro_f1", "macro_f1", "label_auc"} <= set(result.test_metrics)
    folder = trainer.export("toy-multilabel", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    texts = ["w1 w2 w3", "w30 w31"]
    assert module.classify(texts) == task.predict(texts)
    assert module.info.config["threshold"] == 0.4 and module.info.config["label_names"] == ["a", "b", "c"]
    assert all(
        set(r["labels"]) == {n for n, p in r["probabilities"].items() if p >= 0.4}
        for r in module.classify(texts)
    )


def test_rejects_a_single_label_dataset() -> None:
    task = MultiLabelClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=16)
    single = Dataset("single", {"train": [TextExample("w1", 0), TextExample("w2", 1)]}, ["x", "y"])
    with pytest.raises(ConfigError, match="multilabel"):
        task.bind(single)
    with pytest.raises(ConfigError, match="threshold"):
        MultiLabelClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=16, threshold=1.5)


@pytest.mark.slow
def test_bbc_news_multilabel_beats_the_baselines(tmp_path) -> None:
    ds = hub.datasets.load("bbc-news-multilabel").subset({"train": 192, "dev": 32, "test": 96})
    task = MultiLabelClassificationTask(
        minilm(), num_classes=ds.num_classes, max_seq_len=64, label_names=ds.label_names
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=3)
    metrics = result.test_metrics
    truth = np.zeros((len(ds.test), ds.num_classes))
    for i, ex in enumerate(ds.test):
        truth[i, list(ex.label)] = 1
    all_positive_f1 = f1_scores(truth, np.ones_like(truth))[0]  # the best constant prediction for micro F1
    assert metrics["auc"] >= 0.8  # chance: 0.5
    assert metrics["micro_f1"] >= all_positive_f1 + 0.15
    assert (
        min(metrics["label_auc"][t] for t in ds.label_names[:5]) >= 0.85
    )  # topics are easy; money/long are not
    folder = trainer.export("bbc-multilabel", output_dir=tmp_path / "export", install_module=False)
    text = ["Shares in the bank rose 5% after it reported profits of £2bn for the year."]
    assert hub.Module(str(folder)).classify(text) == task.predict(text)


def test_a_head_on_cached_features(tmp_path) -> None:
    """A frozen encoder's cached, standardised features train a hidden-layer head; the export
    rebuilds it and reads text."""
    backbone = tiny_backbone()
    backbone.model.requires_grad_(False)
    ds = toy_multilabel()
    task = MultiLabelClassificationTask(
        backbone, num_classes=3, max_seq_len=32, cache_features=True, head_hidden_size=8
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=3, batch_size=8, lr=3e-3, num_threads=1)
    features = task.encode(ds.train, split="train").features
    torch.testing.assert_close(task.model.feature_std, torch.from_numpy(features.std(axis=0)))
    folder = trainer.export("toy-cached-multilabel", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    assert module.info.config["standardize_features"] is True and module.info.config["head_hidden_size"] == 8
    texts = ["w1 w2 w3", "w30 w31"]
    assert module.classify(texts) == task.predict(texts)
    with pytest.raises(ConfigError, match="frozen"):
        MultiLabelClassificationTask(tiny_backbone(), num_classes=3, max_seq_len=32, cache_features=True)
