"""PaddleHub 1.x's fine-tuning lines, with only the PaddlePaddle-specific ones removed, on a small
ChnSentiCorp in PaddleHub's own file layout."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from data.test_builtin_datasets import write_chnsenticorp

import finehub as hub
from finehub.errors import ConfigError


def test_the_paddlehub_script_runs(tmp_path: Path) -> None:
    folder = write_chnsenticorp(tmp_path / "data")
    run = tmp_path / "run"

    dataset = hub.dataset.ChnSentiCorp(path=folder)
    module = hub.Module(name="minilm-l6", device="cpu")
    strategy = hub.AdamWeightDecayStrategy(learning_rate=5e-5)
    config = hub.RunConfig(
        num_epoch=3,
        strategy=strategy,
        checkpoint_dir=str(run),
        progress=False,
        tensorboard=False,
        plots=False,
    )
    task = hub.TextClassifierTask(module, dataset=dataset, num_classes=dataset.num_labels, config=config)
    result = task.finetune_and_eval()

    assert dataset.num_labels == dataset.num_classes == 2
    assert config.num_epochs == 3 and task.trainer is not None and task.trainer.strategy is strategy
    assert result.steps == 3  # 24 rows, batch 32: one step per epoch
    assert set(result.test_metrics) >= {"accuracy"} and (run / "best_model" / "module.json").is_file()


def test_task_run_arguments_leave_the_signature_and_yaml_alone() -> None:
    params = inspect.signature(hub.TextClassificationTask).parameters
    assert "config" not in params and "dataset" not in params and "num_classes" in params
    from finetune.finetune_support import tiny_backbone

    task = hub.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=16)
    assert task.run_config is None and task.run_dataset is None
    with pytest.raises(ConfigError, match="dataset"):
        task.finetune_and_eval()


def test_run_config_paddlehub_spellings() -> None:
    assert hub.RunConfig(num_epoch=5, checkpoint_dir="x").num_epochs == 5
    assert "strategy" not in hub.RunConfig(checkpoint_dir="x").to_dict()
    with pytest.raises(ConfigError, match="num_epoch"):
        hub.RunConfig(num_epoch=5, num_epochs=2, checkpoint_dir="x")


def test_dataset_constructors_come_from_the_registry() -> None:
    names = dir(hub.dataset)
    assert {"ChnSentiCorp", "ChineseReviews", "PeoplesDailyNer", "BbcNews"} <= set(names)
    reviews = hub.dataset.ChineseReviews()
    assert reviews.train == hub.datasets.load("chinese-reviews").train and reviews.num_labels == 2
    with pytest.raises(AttributeError, match="PeoplesDailyNer.*a different dataset"):
        hub.dataset.MSRA_NER  # noqa: B018
    with pytest.raises(AttributeError, match="ChineseReviews"):
        hub.dataset.ChineseReview  # noqa: B018
