"""Quality parity: a bf16 fine-tune reaches the dev accuracy of an fp32 one (within 0.5 points).

Both runs use finehub's Trainer on the same bbc-news subset with the same seed (same head
initialisation, same batch order); only ``precision`` differs. Dev is the dataset's dev and test
splits together, so one example is worth about a quarter of a point. This is a quality check with
one run per precision, not a speed measurement; its times are shown for information only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from finehub.bench.harness import BenchResult, Contender, Figure, Work, alternate

TRAIN_EXAMPLES = 640
EPOCHS = 2
BATCH_SIZE = 32
MAX_LEN = 128
LEARNING_RATE = 5e-5
SEED = 42
TARGET_POINTS = 0.5


def _finetune(dataset: Any, precision: str, accuracy: dict[str, float], threads: int) -> Contender:
    def go() -> Work:
        from finehub.finetune.config import RunConfig
        from finehub.finetune.strategies import AdamWeightDecay
        from finehub.finetune.tasks import TextClassificationTask
        from finehub.finetune.trainer import Trainer
        from finehub.hub.loader import Module

        task = TextClassificationTask(
            Module("minilm-l6"), num_classes=dataset.num_classes, max_seq_len=MAX_LEN, seed=SEED
        )
        steps = EPOCHS * -(-len(dataset.train) // BATCH_SIZE)
        with tempfile.TemporaryDirectory(prefix="finehub-bench-parity-") as run_dir:
            config = RunConfig(
                num_epochs=EPOCHS,
                batch_size=BATCH_SIZE,
                eval_interval=steps,  # one evaluation, after the last step
                seed=SEED,
                precision=precision,  # type: ignore[arg-type]
                num_threads=threads,
                checkpoint_dir=str(Path(run_dir) / "run"),
                progress=False,
                tensorboard=False,
                plots=False,
            )
            result = Trainer(task, AdamWeightDecay(learning_rate=LEARNING_RATE), config).finetune_and_eval(
                dataset
            )
        accuracy[precision] = 100 * float(result.best_dev_metrics["accuracy"])
        return Work({"samples": result.steps * BATCH_SIZE}, result.train_seconds)

    return Contender(f"finehub Trainer {precision}", go, f'precision="{precision}"')


def run(*, quick: bool, threads: int) -> BenchResult:
    from finehub.data.dataset import Dataset
    from finehub.data.datasets import load

    full = load("bbc-news")
    train = full.subset({"train": TRAIN_EXAMPLES}, seed=SEED).train
    data = Dataset(full.name, {"train": train, "dev": [*full.dev, *full.test]}, full.label_names)
    accuracy: dict[str, float] = {}
    stats = alternate([_finetune(data, p, accuracy, threads) for p in ("fp32", "bf16")], repeats=1, warmup=0)
    diff = abs(accuracy["bf16"] - accuracy["fp32"])
    return BenchResult(
        "parity",
        f"bf16 vs fp32 fine-tune quality, bbc-news ({len(train)} train, {len(data.dev)} dev examples)",
        stats,
        [
            Figure("dev accuracy fp32", accuracy["fp32"], "%"),
            Figure("dev accuracy bf16", accuracy["bf16"], "%"),
            Figure("|bf16 - fp32| accuracy", diff, "points", TARGET_POINTS, "<="),
        ],
        params={
            "train_examples": len(train),
            "dev_examples": len(data.dev),
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "max_len": MAX_LEN,
            "learning_rate": LEARNING_RATE,
            "seed": SEED,
        },
        notes=[
            "one run per precision: the times are indicative, the speed figures come from `bench finetune`"
        ],
        rate_unit="samples",
    )
