"""The tiny fine-tune of ``finetune_support`` without dropout, as a script for single-process and
``torchrun`` runs: ``python ddp_support.py RUN_DIR [STRATEGY]`` prints the result as JSON (rank 0)
and lists every file-system change it made under RUN_DIR in ``RUN_DIR.writes-rank<RANK>.json``.

Dropout is off because each process draws masks only for its slice of a batch; without it a
data-parallel step computes the same gradient as a single-process one (up to summation order).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from finetune_support import tiny_backbone, toy_dataset  # noqa: E402

WRITE_EVENTS = {"os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree", "shutil.copyfile"}


def record_writes(run_dir: Path) -> list[str]:
    """Audit-hook record of the writes this process makes under ``run_dir``."""
    root, writes = str(run_dir.resolve()), []

    def hook(event: str, args: tuple) -> None:
        writing = event in WRITE_EVENTS or (
            event == "open" and (isinstance(args[1], str) and set(args[1]) & set("wax+") or args[2] & 3)
        )
        if writing and args and isinstance(args[0], (str, os.PathLike)):
            path = os.path.abspath(os.fspath(args[0]))
            if path.startswith(root):
                writes.append(f"{event} {path}")

    sys.addaudithook(hook)
    return writes


def main(run_dir: Path, strategy: str) -> None:
    import finehub.finetune as ft

    torch.set_num_threads(1)
    writes = record_writes(run_dir)
    backbone = tiny_backbone()
    for module in backbone.model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    task = ft.TextClassificationTask(backbone, num_classes=2, max_seq_len=32, seed=1, dropout=0.0)
    strategies = {
        "adamw": ft.AdamWeightDecay(learning_rate=3e-3, warmup_proportion=0.1),
        "ulmfit": ft.ULMFiT(learning_rate=3e-3),
    }
    config = ft.RunConfig(
        num_epochs=3,
        batch_size=12,  # 192 examples: 16 steps per epoch, 6 examples per rank with 2 processes
        eval_interval=8,
        log_interval=4,
        save_ckpt_interval=8,
        keep_checkpoints=6,  # all of them, so a test can resume from any
        checkpoint_dir=str(run_dir),
        device="cpu",
        progress=False,
        tensorboard=False,
        plots=False,
        num_threads=1,
    )
    result = ft.Trainer(task, strategies[strategy], config).finetune_and_eval(toy_dataset())
    log = run_dir.with_name(f"{run_dir.name}.writes-rank{os.environ.get('RANK', '0')}.json")
    log.write_text(json.dumps(writes))
    if int(os.environ.get("RANK", "0")) == 0:
        out = {
            "best_dev": result.best_dev_metrics,
            "best_step": result.best_step,
            "test": result.test_metrics,
            "steps": result.steps,
            "resumed_from": result.resumed_from,
        }
        print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "adamw")
