"""Serving config: PaddleHub's file shape, finehub's limits, errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finehub.errors import ServingConfigError
from finehub.serving.config import ServingConfig, parse_module_spec


def test_paddlehub_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "serving.json"
    path.write_text(
        json.dumps(
            {
                "modules_info": {
                    "minilm-l6": {"init_args": {"version": "1.0.0"}, "predict_args": {"batch_size": 8}},
                    "face": {"init_args": {}, "predict_args": {}},
                },
                "port": 8867,
                "use_multiprocess": True,
                "workers": 2,
                "timeout": 30,
                "max_batch_size": 16,
            }
        )
    )
    cfg = ServingConfig.from_file(path)
    assert cfg.port == 8867 and cfg.workers == 2 and cfg.timeout == 30 and cfg.max_batch_size == 16
    assert cfg.modules_info["minilm-l6"].version == "1.0.0"
    assert cfg.modules_info["minilm-l6"].build_args == {}
    assert cfg.modules_info["minilm-l6"].predict_args == {"batch_size": 8}
    assert cfg.max_items_per_request == 256  # finehub's default


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"port": "eighty"}, "port"),
        ({"port": 70000}, "port"),
        ({"workers": 0}, "workers"),
        ({"max_batch_delay_ms": -1}, "max_batch_delay_ms"),
        ({"modules_info": {"x": {"init_args": [1]}}}, "modules_info.x.init_args"),
        ({"modules_info": {"x": {"predict_arg": {}}}}, "modules_info.x.predict_arg"),
        ({"max_batch": 3}, "max_batch"),
    ],
)
def test_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ServingConfigError) as e:
        ServingConfig.parse(data)
    assert e.value.field == field and field in str(e.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ServingConfigError, match="no such file"):
        ServingConfig.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  'port': 1\n}")
    with pytest.raises(ServingConfigError, match="not valid JSON.*line 2"):
        ServingConfig.from_file(bad)


def test_module_specs_from_the_command_line() -> None:
    cfg = ServingConfig.parse({"modules_info": {"a": {"predict_args": {"k": 1}}}})
    cfg = cfg.with_modules(["a==2.0", "b"])
    assert cfg.modules_info["a"].version == "2.0" and cfg.modules_info["a"].predict_args == {"k": 1}
    assert cfg.modules_info["b"].version is None
    assert parse_module_spec("x==1.0.1") == ("x", "1.0.1")
    for bad in ("", "x==", "x>=1", "==1"):
        with pytest.raises(ServingConfigError, match="NAME or NAME==VERSION"):
            parse_module_spec(bad)
