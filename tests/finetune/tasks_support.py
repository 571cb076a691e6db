"""What the task tests share: the real MiniLM module (loaded once), a short fine-tuning run, and
tiny toy datasets for the fast mechanics tests (see finetune_support.tiny_backbone)."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

from finetune.finetune_support import WORDS


@functools.cache
def minilm() -> Any:
    import finehub as hub

    return hub.Module("minilm-l6")


def finetune(
    task: Any,
    dataset: Any,
    run_dir: Path,
    *,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    **config: Any,
) -> tuple[Any, Any]:
    """Fine-tune ``task`` quietly into ``run_dir`` (one evaluation, at the end); returns (trainer, result)."""
    import finehub.finetune as ft

    settings: dict[str, Any] = dict(
        num_epochs=epochs,
        batch_size=batch_size,
        eval_interval=10_000,
        checkpoint_dir=str(run_dir),
        progress=False,
        tensorboard=False,
        plots=False,
        num_threads=2,
        seed=0,
    )
    settings.update(config)
    trainer = ft.Trainer(
        task, ft.AdamWeightDecay(learning_rate=lr, warmup_proportion=0.1), ft.RunConfig(**settings)
    )
    return trainer, trainer.finetune_and_eval(dataset)


def toy_sentence(rng: random.Random) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(2, 12))]


def toy_splits(make: Any, sizes: tuple[int, int, int] = (48, 16, 16), seed: int = 0) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    return {
        split: [make(rng) for _ in range(n)] for split, n in zip(("train", "dev", "test"), sizes, strict=True)
    }
