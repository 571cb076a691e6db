import random

import numpy as np
import pytest
import torch

from finehub.errors import CheckpointError
from finehub.finetune.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def draw():
    return (
        random.random(),
        float(np.random.rand()),
        torch.rand(3).tolist(),
        torch.nn.functional.dropout(torch.ones(8), 0.5).tolist(),
    )


def test_round_trip_restores_tensors_plain_values_and_every_rng(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = rng_state()
    expected = draw()
    path = checkpoint_path(tmp_path, 12)
    save_checkpoint(
        path,
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "rng": state,
            "trainer": {"step": 12, "best_metric": 0.5, "best_metrics": {"cm": [[1, 2], [3, 4]]}},
        },
    )
    draw()  # move every stream on

    ckpt = load_checkpoint(path)
    set_rng_state(ckpt["rng"])
    assert draw() == expected
    assert all(
        torch.equal(a, b) for a, b in zip(ckpt["model"].values(), model.state_dict().values(), strict=True)
    )
    fresh = torch.optim.AdamW(model.parameters())
    fresh.load_state_dict(ckpt["optimizer"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert ckpt["trainer"] == {"step": 12, "best_metric": 0.5, "best_metrics": {"cm": [[1, 2], [3, 4]]}}
    assert ckpt["format"] == 1


def test_latest_and_prune_ignore_temp_files(tmp_path):
    for step in (3, 12, 6):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
    (tmp_path / ".step-00000015.pt.abc.tmp").write_bytes(b"half written")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 6, 12]
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 12)
    prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [6, 12]
    assert latest_checkpoint(tmp_path / "missing") is None


def test_corrupt_or_foreign_files_are_checkpoint_errors(tmp_path):
    bad = tmp_path / "step-00000001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(bad)
    torch.save({"weights": torch.ones(1)}, bad)
    with pytest.raises(CheckpointError, match="not a finehub checkpoint"):
        load_checkpoint(bad)


def test_arbitrary_objects_are_refused_on_load(tmp_path):
    path = tmp_path / "step-00000002.pt"
    torch.save({"format": 1, "obj": _Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


class _Evil:
    def __reduce__(self):
        return (print, ("this would run at load time",))
