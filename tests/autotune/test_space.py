"""The search space: PaddleHub's YAML as written, validation, and the normalised mapping."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from finehub.autotune.space import SearchSpace
from finehub.errors import SearchSpaceError

# The example of PaddleHub's AutoDL Finetuner documentation, spacing included.
PADDLEHUB_YAML = textwrap.dedent(
    """
    param_list:
    - name : learning_rate
      init_value : 0.001
      type : float
      lower_than : 0.05
      greater_than : 0.000005
    - name : batch_size
      init_value : 12
      type : int
      lower_than : 20
      greater_than : 10
    """
)


def test_paddlehub_yaml_is_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "hparam.yaml"
    path.write_text(PADDLEHUB_YAML)
    space = SearchSpace.from_yaml(path)
    lr, bs = space["learning_rate"], space["batch_size"]
    assert (lr.type, lr.low, lr.high, lr.init, lr.log) == ("float", 0.000005, 0.05, 0.001, False)
    assert (bs.type, bs.low, bs.high, bs.init) == ("int", 10, 20, 12)
    assert space.names == ["learning_rate", "batch_size"]
    assert space.decode([-1, -1]) == {"learning_rate": 0.000005, "batch_size": 10}
    assert space.decode([1, 1]) == {"learning_rate": 0.05, "batch_size": 20}
    x0 = space.x0()
    assert space.decode(x0) == {"learning_rate": 0.001, "batch_size": 12}  # exactly, as written
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_log_scale_ints_and_steps() -> None:
    space = SearchSpace.from_dict(
        [
            {
                "name": "lr",
                "type": "float",
                "greater_than": 1e-5,
                "lower_than": 1e-1,
                "log": True,
                "init_value": 1e-3,
            },
            {"name": "layers", "type": "int", "greater_than": 1, "lower_than": 5},
            {"name": "dropout", "type": "float", "greater_than": 0.0, "lower_than": 0.5, "step": 0.1},
        ]
    )
    lr, layers, dropout = space.params
    assert lr.to_normalised(1e-3) == pytest.approx(0.0)  # geometric middle of 1e-5..1e-1
    assert lr.from_normalised(0.5) == pytest.approx(1e-2)
    assert layers.init == 3  # no init_value: the middle
    # one equal-width bin per integer: 5 bins of width 0.4 over [-1, 1]
    assert [
        layers.from_normalised(u) for u in (-1, -0.61, -0.59, -0.21, -0.19, 0.19, 0.21, 0.59, 0.61, 1)
    ] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [layers.to_normalised(v) for v in (1, 2, 3, 4, 5)] == pytest.approx([-0.8, -0.4, 0.0, 0.4, 0.8])
    assert dropout.from_normalised(0.13) == 0.3
    assert space.grid(5) == {
        "lr": pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1]),
        "layers": [1, 2, 3, 4, 5],
        "dropout": pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
    }


def test_categorical_bins() -> None:
    space = SearchSpace.from_dict(
        {
            "param_list": [
                {
                    "name": "opt",
                    "type": "categorical",
                    "choices": ["adam", "sgd", "lamb"],
                    "init_value": "sgd",
                }
            ]
        }
    )
    opt = space["opt"]
    assert opt.to_normalised("sgd") == pytest.approx(0.0)
    assert [opt.from_normalised(u) for u in (-1, -0.34, -0.33, 0.33, 0.34, 1)] == [
        "adam",
        "adam",
        "sgd",
        "sgd",
        "lamb",
        "lamb",
    ]
    assert all(opt.from_normalised(opt.to_normalised(c)) == c for c in opt.choices)
    assert space.decode(space.x0()) == {"opt": "sgd"}


def test_every_decoded_point_is_inside_optuna_distributions() -> None:
    space = SearchSpace.from_dict(
        [
            {
                "name": "a",
                "type": "float",
                "greater_than": 1e-6,
                "lower_than": 0.3,
                "log": True,
                "init_value": 1e-3,
            },
            {"name": "b", "type": "int", "greater_than": 8, "lower_than": 64, "step": 8, "init_value": 32},
            {
                "name": "c",
                "type": "float",
                "greater_than": -1.5,
                "lower_than": 2.5,
                "step": 0.25,
                "init_value": 0,
            },
            {
                "name": "d",
                "type": "int",
                "greater_than": 1,
                "lower_than": 1000,
                "log": True,
                "init_value": 10,
            },
            {"name": "e", "type": "categorical", "choices": [True, False, None, 3, "x"]},
        ]
    )
    dists = space.distributions()
    rng = np.random.default_rng(0)
    for u in rng.uniform(-1.2, 1.2, (500, len(space))):
        for name, value in space.decode(u).items():
            dist = dists[name]
            assert dist._contains(dist.to_internal_repr(value)), (name, value)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "lr", "type": "float", "greater_than": 0.1, "lower_than": 0.1}, "must be below lower_than"),
        (
            {"name": "lr", "type": "float", "greater_than": 0.1, "lower_than": 0.01},
            "must be below lower_than",
        ),
        ({"name": "lr", "type": "float", "greater_than": 0, "lower_than": 1, "init_value": 2}, "outside"),
        ({"name": "lr", "type": "double", "greater_than": 0, "lower_than": 1}, "unknown type 'double'"),
        ({"name": "lr", "type": "float", "greater_than": 0, "lower_than": 1, "log": True}, "positive bounds"),
        (
            {"name": "lr", "type": "float", "greater_than": -1, "lower_than": 1, "log": True},
            "positive bounds",
        ),
        ({"name": "lr", "type": "float", "greater_than": 0, "lower_then": 1}, "unknown key(s) lower_then"),
        ({"name": "lr", "type": "float", "lower_than": 1}, "missing `greater_than`"),
        ({"name": "bs", "type": "int", "greater_than": 1.5, "lower_than": 8}, "whole number"),
        (
            {"name": "bs", "type": "int", "greater_than": 0, "lower_than": 10, "step": 3},
            "whole number of steps",
        ),
        (
            {"name": "lr", "type": "float", "greater_than": 0.1, "lower_than": 1, "step": 0.1, "log": True},
            "cannot be combined",
        ),
        ({"name": "opt", "type": "categorical"}, "non-empty list `choices`"),
        ({"name": "opt", "type": "categorical", "choices": ["a", "a"]}, "twice"),
        (
            {"name": "opt", "type": "categorical", "choices": ["a"], "init_value": "b"},
            "not one of the choices",
        ),
    ],
)
def test_invalid_entries_name_the_entry(entry: dict, problem: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_dict({"param_list": [entry]})
    assert info.value.entry == entry["name"]
    assert problem in str(info.value)


def test_duplicate_names_and_empty_spaces(tmp_path: Path) -> None:
    entry = {"name": "lr", "type": "float", "greater_than": 0, "lower_than": 1}
    with pytest.raises(SearchSpaceError, match="appears twice") as info:
        SearchSpace.from_dict({"param_list": [entry, entry]})
    assert info.value.entry == "lr"
    with pytest.raises(SearchSpaceError, match="empty"):
        SearchSpace.from_dict({"param_list": []})
    with pytest.raises(SearchSpaceError, match="param_list"):
        SearchSpace.from_dict({"params": [entry]})
    with pytest.raises(SearchSpaceError, match="cannot read"):
        SearchSpace.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("param_list: [\n")
    with pytest.raises(SearchSpaceError, match="not valid YAML"):
        SearchSpace.from_yaml(bad)


def test_normalised_round_trip_of_floats() -> None:
    space = SearchSpace.from_dict(
        [
            {
                "name": "w",
                "type": "float",
                "greater_than": 1e-4,
                "lower_than": 10,
                "log": True,
                "init_value": 0.5,
            }
        ]
    )
    for value in (1e-4, 3.3e-3, 0.5, 9.99, 10):
        u = space["w"].to_normalised(value)
        assert -1 <= u <= 1
        assert math.isclose(space["w"].from_normalised(u), value, rel_tol=1e-9)
