"""`python benchmarks/bf16_frozen_copy.py`: what recasting frozen weights onto the bf16 encoder copy
after every step would cost, against recasting only the trainable ones (what the Trainer does).

multilingual-e5-small with its word embeddings and lower 6 layers frozen, chinese-reviews, batch 32
of the longest reviews at max_len 64, bf16 steps. The two variants alternate in one process after a
warm-up step; medians of 3 rounds. A CPU without native bf16 trains in fp32, with no bf16 copy to
measure: the script says so and stops."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

import finehub as hub
from finehub.bench.harness import Contender, alternate, machine_info, ratio
from finehub.finetune.bf16_shadow import BF16Shadow
from finehub.finetune.step import StepRunner


def recast_everything(shadow: BF16Shadow) -> None:
    with torch.no_grad():
        torch._foreach_copy_(shadow.copies, shadow.masters)


def main() -> None:
    torch.set_num_threads(2)
    runner = StepRunner(torch.device("cpu"), "bf16")
    if runner.precision != "bf16":
        sys.exit("this CPU has no native bf16: training runs in fp32, without a bf16 encoder copy")
    ds = hub.datasets.load("chinese-reviews").subset({"train": 640}, seed=0)
    encoder = hub.Module("multilingual-e5-small", frozen_layers=6)
    task = hub.TextClassificationTask(encoder, num_classes=2, max_seq_len=64)
    split = task.encode(ds.train, split="train")
    batches = np.argsort(split.lengths, kind="stable")[-320:].reshape(10, 32)
    opt = hub.AdamWeightDecay(learning_rate=1e-4).build(task.model, total_steps=1000, steps_per_epoch=1000)
    trainable_only = BF16Shadow.weights_from_masters

    def steps(recast: object) -> dict[str, float]:
        BF16Shadow.weights_from_masters = recast  # type: ignore[method-assign]
        for indices in batches[1:5]:
            runner.step(task, split, indices)
        return {"samples": 4 * 32}

    try:
        with runner.training(task.model, opt, cpu_kernels=True):
            stats = alternate(
                [
                    Contender("trainable only", lambda: steps(trainable_only)),
                    Contender("every weight", lambda: steps(recast_everything)),
                ],
                repeats=3,
            )
    finally:
        BF16Shadow.weights_from_masters = trainable_only  # type: ignore[method-assign]
    info = machine_info(2)
    print(
        json.dumps({k: info[k] for k in ("cpu", "cpu_kind", "torch_bf16_cpu", "load_avg_1m", "isa_limits")})
    )
    for st in stats:
        print(f"{st.name:15s} {st.rate('samples'):6.1f} samples/s (median)")
    figure = ratio(stats, "trainable only", "every weight", unit="samples")
    print(f"trainable only / every weight: {figure.value:.2f}x (best reps {figure.best:.2f}x)")


if __name__ == "__main__":
    main()
