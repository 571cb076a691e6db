"""TextMatchingTask: both heads on a tiny BERT, and real same-topic matching on bbc-news-pairs that
must beat chance."""

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
from finehub.finetune.tasks.text_matching import TextMatchingTask


def toy_pairs() -> Dataset:
    def example(rng):
        a, b = toy_sentence(rng), toy_sentence(rng)
        return TextExample(" ".join(a), int((int(a[0][1:]) < 20) == (int(b[0][1:]) < 20)), " ".join(b))

    return Dataset("toy-pairs", toy_splits(example), ["different", "same"])


def test_bbc_news_pairs_are_balanced_and_within_splits() -> None:
    ds = hub.datasets.load("bbc-news-pairs")
    news = hub.datasets.load("bbc-news")
    for split in ("train", "dev", "test"):
        labels = [ex.label for ex in ds[split]]
        assert abs(sum(labels) - len(labels) / 2) <= 1
        texts = {ex.text_a for ex in news[split]}
        assert all(ex.text_a in texts and ex.text_b in texts and ex.text_a != ex.text_b for ex in ds[split])
    topic = {ex.text_a: ex.label for split in news.splits.values() for ex in split}
    assert all((topic[ex.text_a] == topic[ex.text_b]) == bool(ex.label) for ex in ds.dev)


@pytest.mark.parametrize("head", ["classification", "cosine"])
def test_mechanics_on_a_tiny_model(tmp_path, head: str) -> None:
    ds = toy_pairs()
    task = TextMatchingTask(tiny_backbone(), num_classes=2, max_seq_len=32, head=head)
    split = task.encode(ds.train, split="train")
    batch = task.collate(split, np.arange(4))
    task.model.eval()  # the encoder's dropout would make the two passes below differ
    assert {"input_ids_a", "attention_mask_a", "input_ids_b", "attention_mask_b", "labels"} == set(batch)
    out = task.model(**{k: v for k, v in batch.items() if k != "labels"})
    if head == "cosine":
        u = task.model.embed(batch["input_ids_a"], batch["attention_mask_a"])
        v = task.model.embed(batch["input_ids_b"], batch["attention_mask_b"])
        assert torch.allclose(out, torch.nn.functional.cosine_similarity(u, v), atol=1e-6)
        assert batch["labels"].dtype == torch.float32
    else:
        assert out.shape == (4, 2)
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=1, batch_size=8, lr=3e-3, num_threads=1)
    expected = {
        "classification": {"accuracy", "macro_f1"},
        "cosine": {"auc", "accuracy", "pearson", "spearman"},
    }[head]
    assert set(result.test_metrics) == {"loss", *expected}
    folder = trainer.export("toy-matcher", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    pairs = [["w1 w2", "w3 w4"], ["w30 w2", "w1"]]
    assert module.match(pairs) == task.predict(pairs)
    assert ("similarity" in module.match(pairs)[0]) is (head == "cosine")


def test_numeric_labels_need_the_cosine_head() -> None:
    scored = Dataset("sts", {"train": [TextExample("w1", 0.5, "w2")]}, task="regression")
    with pytest.raises(ConfigError, match="cosine"):
        TextMatchingTask(tiny_backbone(), max_seq_len=16).bind(scored)
    with pytest.raises(ConfigError, match="pearson"):
        TextMatchingTask(tiny_backbone(), max_seq_len=16, head="cosine").bind(scored)
    task = TextMatchingTask(tiny_backbone(), max_seq_len=16, head="cosine", metrics=["pearson", "spearman"])
    task.bind(scored)
    assert task.encode(scored.train, split="train").labels.tolist() == [0.5]


@pytest.mark.slow
def test_bbc_news_pairs_beat_chance(tmp_path) -> None:
    ds = hub.datasets.load("bbc-news-pairs").subset({"train": 160, "dev": 32, "test": 96})
    task = TextMatchingTask(minilm(), num_classes=2, max_seq_len=48, head="cosine")
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=2, lr=2e-4)
    metrics = result.test_metrics
    assert metrics["auc"] >= 0.8 and metrics["accuracy"] >= 0.7  # chance: 0.5 and 0.5
    folder = trainer.export("bbc-pairs", output_dir=tmp_path / "export", install_module=False)
    pair = [["Shares fell as the bank cut its profit forecast.", "The central bank raised interest rates."]]
    assert hub.Module(str(folder)).match(pair) == task.predict(pair)
