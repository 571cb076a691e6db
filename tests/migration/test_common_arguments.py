"""PaddleHub's common arguments, handled in one place (finehub.modules._common)."""

from __future__ import annotations

import logging
import types

import pytest

from finehub._utils.limits import no_file_paths
from finehub.errors import ModuleInputError
from finehub.modules import _common


class Movable:
    """A module on the CPU that can move (records where to)."""

    name = "movable"

    def __init__(self) -> None:
        self.device = types.SimpleNamespace(type="cpu")
        self.moves: list[str] = []

    def to_device(self, device: str) -> None:
        self.moves.append(device)
        self.device = types.SimpleNamespace(type=device)


def test_use_gpu_moves_a_module_when_a_gpu_is_present(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    module = Movable()
    _common.honour_use_gpu(module, False)
    assert module.moves == []  # False keeps the device the module was created on
    _common.honour_use_gpu(module, True)
    _common.honour_use_gpu(module, True)  # already there
    assert module.moves == ["cuda"]


def test_use_gpu_without_a_gpu_is_ignored_with_one_log_line(monkeypatch, caplog) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _common._log_once.cache_clear()
    module = Movable()
    with caplog.at_level(logging.WARNING, logger="finehub.modules._common"):
        for _ in range(3):
            _common.honour_use_gpu(module, True)
    assert module.moves == [] and len(caplog.records) == 1
    assert "use_gpu=True ignored: no CUDA GPU is present" in caplog.records[0].getMessage()
    with pytest.raises(ModuleInputError, match="use_gpu"):
        _common.honour_use_gpu(module, "yes")


def test_paddle_images_spellings_and_paths_never_inside_the_server() -> None:
    assert _common.paddle_images(["a"], ["b.jpg"], {"image": ["c.jpg"]}) == ["a", "b.jpg", "c.jpg"]
    assert _common.paddle_images(None, "b.jpg") == ["b.jpg"]
    with no_file_paths(), pytest.raises(ModuleInputError, match="^paths: "):
        _common.paddle_images(None, ["/etc/passwd"])
    with pytest.raises(ModuleInputError, match="no images given"):
        _common.paddle_images(None)


def test_paddle_texts_spellings() -> None:
    assert _common.paddle_texts(["a"], None) == ["a"]
    assert _common.paddle_texts(None, {"text": ["a", "b"]}) == ["a", "b"]
    assert _common.paddle_texts(None, [["a"], ["b", "c"]]) == ["a", ("b", "c")]
    for texts, data in ((["a"], {"text": ["a"]}), (None, {"texts": ["a"]}), (None, [["a", "b", "c"]])):
        with pytest.raises(ModuleInputError, match="^data"):
            _common.paddle_texts(texts, data)
