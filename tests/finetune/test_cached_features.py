"""``cache_features``: a frozen encoder's pooled output computed once; steps run only the head."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from finetune.finetune_support import run_tiny, tiny_backbone, toy_dataset

import finehub.finetune as ft
from finehub.errors import ConfigError
from finehub.finetune.collate import collate
from finehub.modules.text_classifier import TextClassifier


def frozen_task(**kwargs):
    backbone = tiny_backbone()
    backbone.model.requires_grad_(False)
    return ft.TextClassificationTask(
        backbone, num_classes=2, max_seq_len=32, seed=1, cache_features=True, **kwargs
    )


def test_cached_features_give_the_logits_of_the_token_path():
    task = frozen_task(head_hidden_size=8)
    task.model.standardize_by(torch.randn(50, 32) * 4 + 2)  # both paths standardise alike
    examples = toy_dataset().dev
    split = task.encode(examples, split="dev")
    assert split.features is not None and split.features.shape == (len(examples), 32)
    rows = np.arange(len(examples))
    cached = task.collate(split, rows)
    assert set(cached) == {"features", "labels"}
    tokens = collate(replace(split, features=None, labels=None), rows, task.pad_id)
    task.model.eval()
    with torch.no_grad():
        from_features = task.model(features=cached["features"])
        from_tokens = task.model(**tokens)
    torch.testing.assert_close(from_features, from_tokens, atol=1e-5, rtol=1e-5)
    assert task.model.training is False  # encoding left the mode as it found it


def test_cache_features_needs_a_frozen_encoder():
    with pytest.raises(ConfigError) as info:
        ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32, cache_features=True)
    assert info.value.field == "cache_features" and "frozen" in str(info.value)


def test_head_hidden_size_is_checked():
    with pytest.raises(ConfigError) as info:
        ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32, head_hidden_size=-4)
    assert info.value.field == "head_hidden_size"


@pytest.mark.parametrize("head_hidden_size", [0, 16])
def test_training_on_cached_features_moves_only_the_head_and_exports_a_token_module(
    tmp_path, head_hidden_size
):
    task = frozen_task(head_hidden_size=head_hidden_size)
    assert isinstance(task.model.head, torch.nn.Sequential) == bool(head_hidden_size)
    encoder_before = {k: v.clone() for k, v in task.model.encoder.state_dict().items()}
    head_before = [p.detach().clone() for p in task.model.head.parameters()]
    trainer, result = run_tiny(
        tmp_path / "run",
        task=task,
        strategy=ft.AdamWeightDecay(learning_rate=3e-2),
        num_epochs=30,
        eval_interval=120,
    )
    assert result.steps == 30 * 24
    for key, value in task.model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key
    assert all(not torch.equal(p, b) for p, b in zip(task.model.head.parameters(), head_before, strict=True))
    majority = max(np.bincount([e.label for e in toy_dataset().test])) / 48
    assert result.test_metrics["accuracy"] > majority
    train_features = task.encode(toy_dataset().train, split="train").features
    torch.testing.assert_close(task.model.feature_mean, torch.from_numpy(train_features.mean(axis=0)))
    torch.testing.assert_close(task.model.feature_std, torch.from_numpy(train_features.std(axis=0)))
    module = TextClassifier(directory=tmp_path / "run" / "best_model")
    assert module.config.get("head_hidden_size", 0) == head_hidden_size
    assert module.config["standardize_features"] is True
    torch.testing.assert_close(module.net.feature_mean, task.model.feature_mean)
    texts = ["w1 w2 w3 w30", "w35 w36 w37 w1", "w0"]
    got, expected = module.classify(texts), trainer.task.predict(texts)
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g["score"] == pytest.approx(e["score"], abs=1e-5)
