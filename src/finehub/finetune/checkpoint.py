"""Checkpoints: one plain dict per file, written atomically, read without arbitrary unpickling.

Layout under ``<run>/checkpoints/``: ``step-00000120.pt`` files. A checkpoint dict holds::

    {"format": 1, "model": state_dict, "optimization": {"optimizer": ..., "scheduler": ...},
     "rng": {"python": ..., "numpy": ..., "torch": ..., "cuda": [...]},
     "trainer": {"step", "epoch", "data_position": {"epoch", "batch"}, "seed", "best_metric",
                 "best_step", "evals_since_best", "finished", ...},
     "config": RunConfig as a dict}

Files are written to a temp name beside the target and renamed into place, so a process killed at
any moment leaves either the previous checkpoint or the new one, never half of one. Loading uses
``torch.load(weights_only=True)``: only tensors and plain containers are accepted.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from finehub._utils.fs import atomic_path
from finehub.errors import CheckpointError

FORMAT = 1
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def save_checkpoint(path: Path, ckpt: dict[str, Any]) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **ckpt}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or a pickle that is not plain tensors and containers
        raise CheckpointError(
            str(path), f"cannot be read ({e}). Delete it to resume from an older one."
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(str(path), f"is not a finehub checkpoint of format {FORMAT}.")
    return ckpt


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints."""
    for _, path in list_checkpoints(folder)[:-keep]:
        path.unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and every CUDA device) RNG states, as tensors and plain values."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
