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
        ({"seed": -1}, "seed"),
        ({"num_threads": 0}, "num_threads"),
        ({"eval_batch_size": "64"}, "eval_batch_size"),
        ({"save_ckpt_interval": 1.5}, "save_ckpt_interval"),
        ({"cpu_kernels": 1}, "cpu_kernels"),
    ],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        RunConfig(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_num_threads_is_bounded_by_the_machine():
    import os

    cap = 4 * (os.cpu_count() or 1)
    assert RunConfig(num_threads=cap).num_threads == cap
    with pytest.raises(ConfigError, match=rf"num_threads: must be an integer in \[1, {cap}\].*got 1000000"):
        RunConfig(num_threads=10**6)


def test_eval_batch_size_is_decided_once():
    assert RunConfig(batch_size=16).eval_batch_size == 32
    assert RunConfig(batch_size=16, eval_batch_size=5).eval_batch_size == 5


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
            "must be a number > 0, got -1",
        ),
        (
            ("strategy: {type: AdamWeightDecay, learning_rate: 5e-5}", "strategy: {learning_rate: fast}"),
            "strategy.learning_rate",
            "must be a number > 0, got the text 'fast'",
        ),
        (
            (
                "strategy: {type: AdamWeightDecay, learning_rate: 5e-5}",
                "strategy: {type: ULMFiT, ratio: [2]}",
            ),
            "strategy.ratio",
            "must be a number >= 1",
        ),
        (
            ("strategy: {type: AdamWeightDecay, learning_rate: 5e-5}", "strategy: {max_grad_norm: off}"),
            "strategy.max_grad_norm",
            "or None (no clipping), got False",
        ),
        (("config: {num_epochs: 1}", "config: {num_epochs: '3'}"), "config.num_epochs", "positive integer"),
        (("config: {num_epochs: 1}", "config: {precision: bf17}"), "config.precision", "did you mean 'bf16'"),
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


@pytest.mark.parametrize(
    ("value", "bounds", "message"),
    [
        ("fast", {"gt": 0}, "x: must be a number > 0, got the text 'fast'"),
        (1.0, {"ge": 0, "lt": 1}, "x: must be a number in [0, 1), got 1.0"),
        (0, {"gt": 0, "le": 1}, "x: must be a number in (0, 1], got 0"),
        (2.5, {"integer": True, "ge": 1}, "x: must be a positive integer, got 2.5"),
        (None, {"gt": 0}, "x: must be a number > 0, got None"),
        ([1], {"gt": 0, "none": "off"}, "x: must be a number > 0, or None (off), got [1] (list)"),
        (float("inf"), {}, "x: must be a finite number, got inf"),
        (True, {"integer": True}, "x: must be an integer, got True"),
    ],
)
def test_check_number_names_the_field_the_range_and_the_value(value, bounds, message):
    from finehub.finetune.validation import check_number

    with pytest.raises(ConfigError) as info:
        check_number("x", value, **bounds)
    assert (info.value.field, str(info.value)) == ("x", message)


def test_checks_return_what_they_accept():
    from finehub.finetune.validation import check_bool, check_choice, check_number

    assert check_number("x", 3, integer=True, ge=1, le=3) == 3
    assert check_number("x", None, gt=0, none="off") is None
    assert check_choice("x", "sgd", ("adam", "sgd")) == "sgd"
    assert check_bool("x", False) is False
    with pytest.raises(
        ConfigError, match=r"must be one of \['adam', 'sgd'\], got the text 'adma'; did you mean 'adam'"
    ):
        check_choice("x", "adma", ("adam", "sgd"))
    with pytest.raises(ConfigError, match="must be true or false, got 1"):
        check_bool("x", 1)
