"""The Trainer end to end on a tiny random BERT (seconds): outputs, resume, control, export."""

import json

import numpy as np
import pytest
import torch
from finetune.finetune_support import run_tiny, tiny_backbone, toy_dataset

import finehub.finetune as ft
from finehub.errors import CheckpointError, ConfigError
from finehub.finetune.callbacks import Callback
from finehub.modules.text_classifier import TextClassifier
from finehub.nn.device import DISABLE_BF16_ENV, bf16_supported


def expected_precision(asked: str, device: str) -> str:
    """What a run asking for ``asked`` gets on ``device``: bf16 falls back to fp32 without native support."""
    return "bf16" if asked == "bf16" and bf16_supported(torch.device(device)) else "fp32"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    trainer, result = run_tiny(run, tensorboard=True, plots=True)
    return run, trainer, result


def test_outputs_of_a_run(finished):
    run, trainer, result = finished
    assert result.steps == result.total_steps == 4 * 24
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["event"] == "train"]
    evals = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in train] == list(range(1, 97))
    assert [r["step"] for r in evals] == list(range(6, 97, 6))
    assert [r["event"] for r in records][-1] == "test"
    best = max(evals, key=lambda r: r["accuracy"])
    assert result.best_step == best["step"] and result.best_dev_metrics["accuracy"] == best["accuracy"]
    majority = max(np.bincount([e.label for e in toy_dataset().test])) / 48
    assert result.test_metrics["accuracy"] > majority + 0.1
    assert sum(map(sum, result.test_metrics["confusion_matrix"])) == 48

    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    report = (run / "report.md").read_text()
    assert "| **high** |" in report and "Confusion matrix (test)" in report and "samples/s" in report
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000096.pt"]


def test_best_model_folder_is_a_module_that_predicts_like_the_task(finished):
    run, trainer, _ = finished
    module = TextClassifier(directory=run / "best_model")
    texts = ["w1 w2 w3 w30", "w35 w36 w37 w1", "w0"]
    got, expected = module.classify(texts), trainer.task.predict(texts)
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g["score"] == pytest.approx(e["score"], abs=1e-5)
        assert set(g["probabilities"]) == {"high", "low"}
        assert sum(g["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert module.info.config["finetuned"]["step"] == trainer.result.best_step
    assert list(module.classify(texts, top_k=1)[0]["probabilities"]) == [got[0]["label"]]


def test_export_installs_a_module_that_finehub_module_loads(finished, finehub_home):
    from finehub.hub.loader import Module

    _, trainer, _ = finished
    path = trainer.export("toy-classifier", version="1.2.0")
    assert path == __import__("pathlib").Path(finehub_home) / "modules" / "toy-classifier" / "1.2.0"
    module = Module("toy-classifier")
    assert module.info.name == "toy-classifier" and module.info.version == "1.2.0"
    texts = ["w1 w2", "w39 w38 w37"]
    assert [r["label"] for r in module.predict(texts)] == [r["label"] for r in trainer.task.predict(texts)]
    trainer.export("toy-classifier", version="1.2.0")  # exporting again replaces the installed copy


def test_a_finished_run_resumes_to_the_same_result_without_training(finished):
    run, _, first = finished
    _, again = run_tiny(run, tensorboard=True, plots=True)
    assert again.resumed_from == first.steps and again.train_seconds == first.train_seconds
    assert again.test_metrics == first.test_metrics and again.best_step == first.best_step
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records].count("test") == 1


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_train_begin(self, state, control):
        self.events.append(("begin", state.step))

    def on_step_end(self, state, control):
        if state.step == self.stop_at:
            control.stop = True
        with pytest.raises(AttributeError):
            state.step = 0  # read-only

    def on_evaluate(self, state, control):
        self.events.append(("evaluate", state.step))

    def on_save(self, state, control):
        self.events.append(("save", state.step))

    def on_early_stop(self, state, control):
        self.events.append(("early_stop", state.step))

    def on_train_end(self, state, control):
        self.events.append(("end", state.step, state.test_metrics is not None))


def test_callbacks_see_events_in_order_and_can_stop_the_run(tmp_path):
    rec = Recorder(stop_at=5)
    _, result = run_tiny(
        tmp_path,
        callbacks=(rec,),
        task=ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32),
        strategy=ft.AdamWeightDecay(learning_rate=1e-3),
        num_epochs=2,
        eval_interval=4,
        save_ckpt_interval=2,
    )
    assert rec.events == [
        ("begin", 0),
        ("save", 2),
        ("evaluate", 4),
        ("save", 4),
        ("evaluate", 5),
        ("save", 5),
        ("early_stop", 5),
        ("end", 5, True),
    ]
    assert result.stopped_early and result.steps == 5


def test_early_stopping_counts_evaluations_without_improvement(tmp_path):
    # a learning rate this small leaves every prediction unchanged: no evaluation beats the first
    _, result = run_tiny(
        tmp_path,
        task=ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32),
        strategy=ft.DefaultStrategy(learning_rate=1e-12),
        early_stopping=2,
        save_ckpt_interval=6,
    )
    assert result.stopped_early and result.steps == 18 and result.best_step == 6


@pytest.mark.parametrize(
    "strategy",
    [
        ft.L2SP(learning_rate=1e-3, coeff=0.01),
        ft.ULMFiT(learning_rate=3e-3),
        ft.DefaultStrategy(1e-3, optimizer="sgd"),
    ],
    ids=["l2sp", "ulmfit", "sgd"],
)
def test_every_strategy_trains_through_the_trainer(tmp_path, strategy):
    task = ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32)
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    _, result = run_tiny(
        tmp_path,
        task=task,
        strategy=strategy,
        num_epochs=2,
        batch_size=16,
        eval_interval=100,
        save_ckpt_interval=100,
        precision="bf16",
    )
    assert result.steps == 24 and result.precision == expected_precision("bf16", result.device)
    changed = [k for k, v in task.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "head.weight" in changed
    if isinstance(
        strategy, ft.ULMFiT
    ):  # gradual unfreezing: two epochs train the head and the top layer only
        assert not any(k.startswith(("encoder.embeddings", "encoder.encoder.layer.0.")) for k in changed)
        assert any(k.startswith("encoder.encoder.layer.1.") for k in changed)


def test_a_checkpoint_of_another_setup_is_refused(tmp_path):
    run_tiny(tmp_path, max_steps=3)
    with pytest.raises(CheckpointError, match="batch_size 8 -> 4"):
        run_tiny(tmp_path, batch_size=4)


def test_user_mistakes_are_config_errors(tmp_path):
    backbone = tiny_backbone()
    with pytest.raises(ConfigError, match="num_classes"):
        ft.Trainer(
            ft.TextClassificationTask(backbone, num_classes=3, max_seq_len=32),
            ft.AdamWeightDecay(),
            ft.RunConfig(checkpoint_dir=str(tmp_path)),
        ).finetune_and_eval(toy_dataset())
    with pytest.raises(ConfigError, match="max_seq_len"):
        ft.TextClassificationTask(backbone, num_classes=2, max_seq_len=1000)
    with pytest.raises(ConfigError, match="module"):
        ft.TextClassificationTask("minilm-l6", num_classes=2)
    with pytest.raises(ConfigError, match="label_names"):
        ft.TextClassificationTask(backbone, num_classes=2, max_seq_len=32, label_names=["a"])
    with pytest.raises(ConfigError, match="strategy"):
        ft.Trainer(ft.TextClassificationTask(backbone, num_classes=2, max_seq_len=32), "adam")


def test_bf16_falls_back_to_fp32_with_a_warning_where_unsupported(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(DISABLE_BF16_ENV, "1")
    _, result = run_tiny(tmp_path, max_steps=2, precision="bf16")
    assert result.precision == "fp32"
    assert "no native bfloat16 support" in caplog.text


def test_time_limit_stops_after_the_budget_with_a_final_evaluation(tmp_path):
    from finehub.finetune.callbacks import TimeLimit

    task = ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32)
    cfg = ft.RunConfig(
        num_epochs=2,
        batch_size=8,
        eval_interval=100,
        checkpoint_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        plots=False,
    )
    result = ft.Trainer(task, ft.AdamWeightDecay(), cfg, callbacks=[TimeLimit(0.0)]).finetune_and_eval(
        toy_dataset()
    )
    assert result.steps == 1 and result.stopped_early and result.best_step == 1
    assert result.best_dev_metrics and result.test_metrics


class NaNFirst(ft.TextClassificationTask):
    """Reports a NaN accuracy at its first dev evaluation, as a diverged step would."""

    evaluations = 0

    def compute_metrics(self, outputs, labels):
        metrics = super().compute_metrics(outputs, labels)
        self.evaluations += 1
        if self.evaluations == 1:
            metrics["accuracy"] = float("nan")
        return metrics


def test_a_nan_main_metric_is_never_the_best(tmp_path):
    task = NaNFirst(tiny_backbone(), num_classes=2, max_seq_len=32)
    _, result = run_tiny(tmp_path, task=task, num_epochs=1, batch_size=16, eval_interval=4)
    assert result.best_step in (8, 12) and not np.isnan(result.best_dev_metrics["accuracy"])
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals if r["event"] == "eval"] == [4, 8, 12]


def test_evaluate_uses_the_runs_precision_and_eval_batch_size(finished):
    _, trainer, result = finished
    assert trainer.evaluate(toy_dataset().test) == result.test_metrics  # the same numbers, bit for bit


def test_a_dataset_can_be_given_by_name(tmp_path, monkeypatch):
    from finehub.data import datasets
    from finehub.errors import DatasetNotFoundError

    trainer = ft.Trainer(
        ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32),
        ft.AdamWeightDecay(),
        ft.RunConfig(
            max_steps=1, checkpoint_dir=str(tmp_path), progress=False, tensorboard=False, plots=False
        ),
    )
    with pytest.raises(DatasetNotFoundError, match="no-such-dataset"):
        trainer.finetune_and_eval("no-such-dataset")
    loaded = []
    monkeypatch.setattr(datasets, "load", lambda name: loaded.append(name) or toy_dataset())
    assert trainer.finetune_and_eval("toy-by-name").steps == 1
    assert loaded == ["toy-by-name"]
    with pytest.raises(
        ConfigError, match=r"dataset: expected a finehub Dataset .* got list; pass finehub.datasets.load"
    ):
        trainer.finetune_and_eval(toy_dataset().train)
