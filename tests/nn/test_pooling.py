"""Pooling token states into one vector per text."""

from __future__ import annotations

import pytest
import torch

from finehub.errors import ConfigError
from finehub.nn.pooling import pool_tokens


def test_mean_pooling_ignores_padding_and_cls_takes_the_first_token() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool_tokens(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool_tokens(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
    assert pool_tokens(hidden, torch.zeros(1, 3), "mean").tolist() == [[0.0, 0.0]]


def test_unknown_pooling_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="must be one of mean, cls, got 'max'") as info:
        pool_tokens(torch.zeros(1, 2, 2), torch.ones(1, 2), "max")  # type: ignore[arg-type]
    assert info.value.field == "pooling"
