"""The task-kind registry: every kind is one registered description that YAML, the public names,
export and ONNX read; a new kind plugs in with one decorated class."""

from __future__ import annotations

import inspect

import pytest
from finetune.finetune_support import tiny_backbone

import finehub
import finehub.finetune
from finehub.errors import ConfigError
from finehub.finetune import kinds
from finehub.finetune.export import export_folder
from finehub.finetune.kinds import OnnxSpec, get_kind, kind_of, task_kind, text_axes, text_settings
from finehub.finetune.onnx_export import export_onnx
from finehub.finetune.tasks.regression import RegressionTask
from finehub.finetune.yaml_config import build_job


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry for the test to add to; the real one is restored afterwards."""
    kinds._registered()
    monkeypatch.setattr(kinds, "_KINDS", dict(kinds._KINDS))
    return kinds._KINDS


def test_every_kind_is_complete() -> None:
    assert kinds.kind_names() == [
        "image-classification",
        "multilabel-classification",
        "object-detection",
        "sequence-labeling",
        "text-classification",
        "text-matching",
        "text-regression",
    ]
    for name in kinds.kind_names():
        kind = get_kind(name)
        assert kind_of(kind.task) is kind and kind.task.kind is kind
        module_class = kind.module_class()
        assert module_class.info.task == name  # module.json's task names the kind back
        assert kind.onnx is not None and callable(module_class.onnx_predict)
        assert set(kind.onnx.axes) == {*kind.onnx.inputs, kind.onnx.output}


def test_public_and_yaml_names_come_from_the_registry() -> None:
    for name, cls in kinds.public_classes().items():
        assert getattr(finehub, name) is cls and getattr(finehub.finetune, name) is cls
        assert get_kind(name).task is cls
    assert finehub.SequenceLabelTask is finehub.SequenceLabelingTask  # PaddleHub's name
    assert get_kind("regression").name == "text-regression"  # the YAML spelling
    assert "TextMatchingTask" in dir(finehub)
    with pytest.raises(AttributeError):
        finehub.NoSuchTask  # noqa: B018


def test_unknown_and_duplicate_names_are_refused(registry) -> None:
    with pytest.raises(ConfigError, match="did you mean 'text-classification'") as e:
        get_kind("text-clasification")
    assert e.value.field == "task.type"
    with pytest.raises(ConfigError, match="'regression' is already registered by RegressionTask"):
        task_kind("another", names=("regression",), module="x:Y", tags=())(type("T", (), {}))
    with pytest.raises(ConfigError, match="task.type"):
        build_job({"dataset": {"name": "x"}, "module": "m", "task": {"type": "nope"}, "strategy": {}})


def test_a_new_kind_plugs_in_with_one_decorated_class(registry, tmp_path) -> None:
    """A toy kind: regression whose answers are compared to two decimals. Nothing else changes."""

    @task_kind(
        "toy-score",
        names=("ToyScoreTask",),
        module="finehub.modules.text_tasks:TextRegressor",
        tags=("text", "toy"),
        onnx=OnnxSpec(
            settings=text_settings(),
            output="value",
            axes=text_axes("value"),
            answer=lambda r: round(r["value"], 2),
        ),
    )
    class ToyScoreTask(RegressionTask):
        pass

    assert finehub.finetune.kinds.public_classes()["ToyScoreTask"] is ToyScoreTask
    assert "max_seq_len" in inspect.signature(get_kind("toy-score").task).parameters

    task = ToyScoreTask(tiny_backbone(seed=1), max_seq_len=16)
    folder = export_folder(task, tmp_path / "toy", name="tiny-toy")
    module = finehub.Module(str(folder))
    assert module.info.task == "toy-score" and module.info.tags[:2] == ("text", "toy")
    result = export_onnx(folder, tmp_path / "onnx")
    assert result.kind == "toy-score" and result.parity.agreement == 1.0
    onnx_module = finehub.Module(str(result.folder))
    texts = ["w1 w2 w3", "w9"]
    got, expected = onnx_module.predict(texts), module.predict(texts)
    assert [round(r["value"], 3) for r in got] == [round(r["value"], 3) for r in expected]


@pytest.mark.parametrize(
    ("kind", "settings", "field"),
    [
        ("text-classification", {"num_classes": "2"}, "num_classes"),
        ("text-classification", {"num_classes": 2, "dropout": "high"}, "dropout"),
        ("text-classification", {"num_classes": 2, "max_seq_len": 16.5}, "max_seq_len"),
        ("text-classification", {"num_classes": 2, "seed": -1}, "seed"),
        ("text-classification", {"num_classes": 2, "metrics": "accuracy"}, "metrics"),
        ("text-classification", {"num_classes": 2, "label_names": "ab"}, "label_names"),
        ("text-classification", {"num_classes": 2, "pooling": "maen"}, "pooling"),
        ("multilabel-classification", {"num_classes": 3, "threshold": "0.5"}, "threshold"),
        ("sequence-labeling", {"num_classes": 3, "crf": "yes"}, "crf"),
        ("text-matching", {"head": "cosin"}, "head"),
        ("text-regression", {"vocab_min_count": 0}, "vocab_min_count"),
        ("text-regression", {"head_hidden_size": 8.5}, "head_hidden_size"),
        ("multilabel-classification", {"num_classes": 3, "head_hidden_size": "64"}, "head_hidden_size"),
    ],
)
def test_task_settings_are_type_checked(kind: str, settings: dict, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        get_kind(kind).task(tiny_backbone(seed=1), **{"max_seq_len": 16, **settings})
    assert e.value.field == field
