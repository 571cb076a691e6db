import textwrap

import pytest

from finehub.errors import ConfigError, DataFormatError
from finehub.finetune.config import RunConfig
from finehub.finetune.yaml_config import load_job, read_yaml


def test_defaults_fill_derived_fields():
    cfg = RunConfig(eval_interval=50)
    assert cfg.save_ckpt_interval == 50
    assert cfg.checkpoint_dir.startswith("runs/run-")
    assert RunConfig(checkpoint_dir="x", save_ckpt_interval=7).save_ckpt_interval == 7


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_epochs": 0}, "num_epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"eval_interval": -1}, "eval_interval"),
        ({"early_stopping": 0}, "early_stopping"),
        ({"max_steps": True}, "max_steps"),
        ({"precision": "fp16"}, "precision"),
        ({"device": "tpu"}, "device"),
        ({"seed": "1"}, "seed"),
        ({"progress": "yes"}, "progress"),
        ({"checkpoint_dir": ""}, "checkpoint_dir"),
    ],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        RunConfig(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def write(tmp_path, text):
    path = tmp_path / "job.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
dataset: {name: chinese-reviews}
module: minilm-l6
task: {type: text-classification, max_seq_len: 64}
strategy: {type: AdamWeightDecay, learning_rate: 5e-5}
config: {num_epochs: 1}
"""


def test_yaml_reads_exponent_floats(tmp_path):
    data = read_yaml(write(tmp_path, GOOD))
    assert data["strategy"]["learning_rate"] == 5e-5
    assert read_yaml(write(tmp_path, "export: {version: 1.0.0}"))["export"]["version"] == "1.0.0"


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (
            ("strategy: {type: AdamWeightDecay, learning_rate: 5e-5}", "strategy: {learnig_rate: 1e-4}"),
            "strategy.learnig_rate",
            "accepted keys in strategy: learning_rate",
        ),
        (
            ("strategy: {type: AdamWeightDecay, learning_rate: 5e-5}", "strategy: {type: Lion}"),
            "strategy.type",
            "L2SP",
        ),
        (
            ("strategy: {type: AdamWeightDecay, learning_rate: 5e-5}", "strategy: {learning_rate: -1}"),
            "strategy.learning_rate",
            "must be > 0",
        ),
        (("config: {num_epochs: 1}", "config: {num_epoch: 1}"), "config.num_epoch", "num_epochs"),
        (("config: {num_epochs: 1}", "config: {batch_size: 0}"), "config.batch_size", "positive integer"),
        (("config: {num_epochs: 1}", "config: [1, 2]"), "config", "mapping"),
        (
            ("task: {type: text-classification, max_seq_len: 64}", "task: {type: ner}"),
            "task.type",
            "text-classification",
        ),
        (("module: minilm-l6", "modul: minilm-l6"), "modul", "accepted keys: dataset, module"),
        (("dataset: {name: chinese-reviews}\n", ""), "dataset", "missing"),
        (("config: {num_epochs: 1}", "config: {num_epochs: 1}\nexport: {version: 2}"), "export", "name"),
    ],
)
def test_bad_yaml_keys_are_named(tmp_path, edit, field, message):
    with pytest.raises(ConfigError) as info:
        load_job(write(tmp_path, GOOD.replace(*edit)))
    assert info.value.field == field
    assert message in str(info.value)


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(DataFormatError, match=r"job.yaml, line \d+: invalid YAML"):
        read_yaml(write(tmp_path, "dataset:\n  name: x\n  bad: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        read_yaml(write(tmp_path, "- a\n- b\n"))
