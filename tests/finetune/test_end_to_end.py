"""Real MiniLM weights, real data: the YAML/CLI path, export, and loading by name."""

import json
import os
import textwrap

import pytest
import typer
from typer.testing import CliRunner

from finehub.cli.finetune import register


def cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `finetune` a sub-command, as under `finehub`
    register(app)
    return app


@pytest.mark.slow
def test_finetune_cli_beats_the_majority_baseline_and_exports_a_loadable_module(tmp_path):
    from finehub.data import datasets
    from finehub.hub.loader import Module

    job = tmp_path / "bbc.yaml"
    job.write_text(
        textwrap.dedent(f"""
        dataset: {{name: bbc-news, subset: {{train: 240, dev: 60, test: 150}}, seed: 0}}
        module: minilm-l6
        task: {{type: text-classification, max_seq_len: 64}}
        strategy: {{type: AdamWeightDecay, learning_rate: 2e-4, warmup_proportion: 0.1}}
        config: {{num_epochs: 2, batch_size: 16, eval_interval: 10, checkpoint_dir: {tmp_path / "run"},
                  precision: bf16, tensorboard: false}}
        export: {{name: bbc-topics, version: 0.1.0}}
    """)
    )
    out = CliRunner().invoke(cli(), ["finetune", str(job), "--no-progress"])
    assert out.exit_code == 0, out.output + repr(out.exception)
    assert "test (best model)" in out.output and "exported and installed" in out.output

    test = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    held_out = datasets.load("bbc-news").subset({"train": 240, "dev": 60, "test": 150}, seed=0).test
    majority = max(sum(e.label == c for e in held_out) for c in range(5)) / len(held_out)
    assert test["event"] == "test" and test["accuracy"] > majority + 0.4, (test, majority)
    assert (tmp_path / "run" / "curves.png").is_file() and (tmp_path / "run" / "report.md").is_file()

    module = Module("bbc-topics")
    preds = module.classify(
        [
            "The central bank raised interest rates as inflation and share prices climbed",
            "The striker scored twice as the champions won the cup final",
        ]
    )
    assert [p["label"] for p in preds] == ["business", "sports"]
    assert set(preds[0]["probabilities"]) == {"business", "entertainment", "politics", "sports", "tech"}


@pytest.mark.slow
def test_demo_runs_end_to_end_on_a_small_budget(tmp_path, capsys):
    from finehub import demo

    demo.main(
        [
            "--run-dir",
            str(tmp_path / "demo"),
            "--encoder",
            "minilm-l6",  # the vocabulary-extension option; the default encoder is tested in tests/modules
            "--train-size",
            "96",
            "--dev-size",
            "32",
            "--test-size",
            "32",
            "--minutes",
            "0.05",
            "--export-name",
            "demo-smoke",
        ]
    )
    out = capsys.readouterr().out
    assert "Chinese characters added" in out and "demo-smoke" in out and "再也不会来了" in out
    assert (tmp_path / "demo" / "best_model" / "module.json").is_file()


def test_the_demo_sizes_its_training_set_to_the_machine(tmp_path, monkeypatch):
    """Timed encoding decides how many reviews fit the budget beside the dev and test reviews it
    must encode too; the answer is kept, so a rerun resumes the same run."""
    import rich.console
    from finetune.finetune_support import tiny_backbone, toy_dataset

    from finehub import demo
    from finehub.finetune import RunConfig, TextClassificationTask

    train = toy_dataset(n_train=2000).train
    frozen = tiny_backbone()
    frozen.model.requires_grad_(False)
    task = TextClassificationTask(frozen, num_classes=2, max_seq_len=32, cache_features=True)
    config = RunConfig(checkpoint_dir=str(tmp_path / "run"), num_threads=1)
    console = rich.console.Console(file=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    slow = demo.fitted_train_size(task, config, train, 0.001, 0, console)
    assert slow == demo.MIN_FIT_SIZE  # a budget too short for any encoding still trains on the minimum
    record = tmp_path / "run" / "demo-train-size.json"
    rate = json.loads(record.read_text())["reviews_per_s"]
    assert rate > 0
    record.unlink()
    assert demo.fitted_train_size(task, config, train, 3600, 0, console) == len(train)
    record.unlink()  # the dev and test reviews come out of the same budget
    seconds = (demo.MIN_FIT_SIZE + 100) / (0.9 * rate)
    assert demo.fitted_train_size(task, config, train, seconds, 100, console) < demo.MIN_FIT_SIZE + 100
    record.write_text(json.dumps({"train_size": 2500}))  # a rerun reads what the first run decided
    assert demo.fitted_train_size(task, config, train, 3600, 0, console) == 2500
    monkeypatch.setattr("os.getloadavg", lambda: (64.0, 64.0, 64.0))
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    demo.quiet_threads_when_busy()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
