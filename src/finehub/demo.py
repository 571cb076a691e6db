"""``python -m finehub.demo``: train a Chinese sentiment classifier on a multilingual encoder, on a
CPU, in a few minutes, then serve the result as a module.

The steps are the README's ten lines. The default encoder is ``multilingual-e5-small`` (XLM-R's
vocabulary covers Chinese), kept frozen: each review is encoded once (``cache_features``) and a
head with one hidden layer trains for many epochs on those features, on as many reviews as the
time budget covers on this machine (timed on a few reviews first). In ten minutes of CPU this beats
fine-tuning the encoder, which covers a fraction of an epoch in that time without bf16 and one
epoch with it (see the README's Chinese section). ``--encoder minilm-l6`` fine-tunes English
MiniLM plus the training set's Chinese characters added as new tokens (``extend_vocab_from``).
Training is capped by a time budget so the demo ends in time on a slow or busy machine (the run
still ends with an evaluation, a checkpoint and a test). Outputs land in the run folder:
best_model/, checkpoints/, metrics.jsonl, TensorBoard events, curves.png, report.md. Running the
demo again resumes or reuses that folder (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

EXAMPLES = ["房间很干净，服务也好", "再也不会来了", "质量很好，物流也快，推荐购买", "书的内容很空洞，浪费钱"]
# per encoder: module init args, default training-set size, learning rate, warmup, evaluations per run
MIN_FIT_SIZE = 1920  # "fit" never trains on fewer reviews than this, even on a slow machine
RECIPES: dict[str, dict[str, Any]] = {
    "multilingual-e5-small": {
        "module": {"frozen_layers": 12},  # all of it: the features are computed once
        "train_size": "fit",  # as many reviews as the time budget encodes on this machine (at least 1,920)
        # a hidden layer over the standardised features: 1.5 points over a linear head here
        "task": {"cache_features": True, "head_hidden_size": 256, "dropout": 0.5},
        "strategy": {"learning_rate": 1e-3, "warmup_proportion": 0.1, "weight_decay": 0.01},
        "epochs": 40,  # epochs over cached features cost seconds
        "evaluations": 4,
        "max_seq_len": 128,  # each review is encoded once, so it can be read whole
    },
    "minilm-l6": {
        "module": {},
        "train_size": None,
        # new character embeddings start untrained: they learn at 10x the rate of the rest
        "strategy": {
            "learning_rate": 2e-4,
            "warmup_proportion": 0.06,
            "weight_decay": 0.01,
            "embedding_lr_scale": 10,
        },
        "evaluations": 7,
        "max_seq_len": 64,
    },
}


def fitted_train_size(task: Any, config: Any, train: Any, seconds: float, reserved: int, console: Any) -> int:
    """How many training reviews the frozen encoder of ``task`` (``cache_features``) encodes in
    ``seconds`` here, after the ``reserved`` reviews (dev and test) that are encoded too: a warm-up
    batch, then 256 reviews timed. The answer is kept in the run folder, so a rerun resumes the same
    run; never fewer than :data:`MIN_FIT_SIZE` nor more than the training set."""
    import torch

    record = Path(config.checkpoint_dir) / "demo-train-size.json"
    if record.is_file():
        return int(json.loads(record.read_text())["train_size"])
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    task.encode(train[:32], split="timing")  # warm-up
    started = time.perf_counter()
    task.encode(train[32:288], split="timing")  # 4 batches, sorted by length as a whole split is
    rate = 256 / (time.perf_counter() - started)
    size = int(min(len(train), max(MIN_FIT_SIZE, 0.9 * rate * seconds - reserved)))
    console.print(f"Timed encoding: {rate:.1f} reviews/s, so {size} training reviews fit the budget")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"train_size": size, "reviews_per_s": rate}))
    return size


def quiet_threads_when_busy() -> None:
    """On a machine already busier than its cores, let OpenMP threads sleep between parallel
    regions instead of spinning: spinning threads then fight the other work for the cores (a bf16
    step ran 3x slower so at load 4.5 on 2 cores). Must run before torch starts OpenMP; a
    setting of the user's own is kept."""
    if "OMP_WAIT_POLICY" not in os.environ and os.getloadavg()[0] >= (os.cpu_count() or 1):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m finehub.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default="runs/demo-zh", help="run folder (default: runs/demo-zh)")
    parser.add_argument("--encoder", choices=sorted(RECIPES), default="multilingual-e5-small")
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="training examples (default for multilingual-e5-small: as many as --minutes encodes on this "
        "machine, timed on a few reviews, at least 1,920; for minilm-l6: all 13,891)",
    )
    parser.add_argument(
        "--dev-size", type=int, default=400, help="dev examples used for the periodic evaluation"
    )
    parser.add_argument("--test-size", type=int, default=None, help="test examples (default: all 1,736)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs (default: 40 for multilingual-e5-small's head; 1 for minilm-l6)",
    )
    parser.add_argument(
        "--max-seq-len",
        type=int,
        default=None,
        help="tokens per review (default: 128 for multilingual-e5-small; 64 for minilm-l6)",
    )
    parser.add_argument(
        "--minutes", type=float, default=5.5, help="time budget for encoding and training steps"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="intra-op threads (1 may be faster on a busy machine)"
    )
    parser.add_argument("--export-name", default="sentiment-zh", help="module name to export and install")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first")
    args = parser.parse_args(argv)
    quiet_threads_when_busy()

    from rich.console import Console
    from rich.table import Table

    import finehub as hub
    from finehub.finetune import AdamWeightDecay, RunConfig, TextClassificationTask, Trainer
    from finehub.finetune.callbacks import TimeLimit, scalars
    from finehub.nn.device import bf16_supported, pick_device

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(soft_wrap=True)  # results on stdout; the progress bar writes to stderr
    started = time.perf_counter()
    if args.fresh:
        shutil.rmtree(args.run_dir, ignore_errors=True)

    recipe = RECIPES[args.encoder]
    ds = hub.datasets.load("chinese-reviews")
    sizes = {"dev": args.dev_size, "test": args.test_size}
    ds = ds.subset({split: size for split, size in sizes.items() if size}, seed=0)
    full_train = ds.train
    vocab = {"extend_vocab_from": full_train, "vocab_min_count": 2} if args.encoder == "minilm-l6" else {}
    task = TextClassificationTask(
        hub.Module(args.encoder, **recipe["module"]),
        num_classes=ds.num_classes,
        max_seq_len=args.max_seq_len or recipe["max_seq_len"],
        label_names=ds.label_names,
        **vocab,
        **recipe.get("task", {}),
    )
    strategy = AdamWeightDecay(**recipe["strategy"])
    if task.added_tokens:
        console.print(
            f"Vocabulary: {len(task.added_tokens)} Chinese characters added to MiniLM's English WordPiece"
        )
    epochs = args.epochs or recipe.get("epochs", 1)
    config = RunConfig(
        num_epochs=epochs,
        batch_size=32,
        log_interval=5,
        checkpoint_dir=args.run_dir,
        # bf16 only where the CPU computes it natively (AVX512-BF16/AMX); emulated it is slower than
        # fp32. A head on cached features is too small for bf16 to gain anything but casts.
        precision="bf16" if bf16_supported(pick_device("cpu")) and not task.cache_features else "fp32",
        num_threads=args.threads,
        seed=0,
    )
    train_size = args.train_size or recipe["train_size"]
    if train_size == "fit":
        reserved = len(ds.dev) + len(ds.test)
        train_size = fitted_train_size(task, config, full_train, args.minutes * 60, reserved, console)
    if train_size and train_size < len(full_train):
        ds = ds.subset({"train": train_size}, seed=0)
    steps = -(-len(ds.train) // config.batch_size) * epochs
    config = replace(config, eval_interval=max(20, steps // recipe["evaluations"]))
    console.print(
        f"[bold]chinese-reviews[/]: {len(ds.train)} train / {len(ds.dev)} dev / {len(ds.test)} test reviews"
    )
    trainer = Trainer(task, strategy, config, callbacks=[TimeLimit(args.minutes * 60)])
    result = trainer.finetune_and_eval(ds)

    table = Table(
        title=f"{args.encoder} fine-tuned on chinese-reviews ({result.steps}/{result.total_steps} steps)"
    )
    table.add_column("metric")
    table.add_column(f"dev (best, step {result.best_step})", justify="right")
    table.add_column("test (best model)", justify="right")
    dev, test = scalars(result.best_dev_metrics), scalars(result.test_metrics)
    majority = max(sum(e.label == c for e in ds.test) for c in range(ds.num_classes)) / len(ds.test)
    for name in dict.fromkeys([*dev, *test]):
        table.add_row(name, *(f"{m[name]:.4f}" if name in m else "-" for m in (dev, test)))
    table.add_row("majority-class accuracy", "", f"{majority:.4f}")
    console.print(table)

    exported = trainer.export(args.export_name)
    module = hub.Module(args.export_name)
    console.print(
        f"Exported and installed as [bold]{args.export_name}[/] ({exported}); "
        f"hub.Module({args.export_name!r}).classify(...):"
    )
    for text, pred in zip(EXAMPLES, module.classify(EXAMPLES), strict=True):
        console.print(f"  {pred['label']:>8}  {pred['score']:.3f}  {text}")
    console.print(
        f"Run folder: {Path(args.run_dir).resolve()} (report.md, curves.png, metrics.jsonl, tensorboard/)"
    )
    console.print(
        f"Training {result.train_seconds:.0f} s at {result.train_samples_per_s:.1f} samples/s "
        f"({result.precision}, {result.device}); demo total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
