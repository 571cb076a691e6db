"""Fine-tune MiniLM-L6 on a slice of BBC News with the hyper-parameters autotune hands in.

The PaddleHub autofinetune contract: every entry of hparam.yaml arrives as ``--name=value``;
``--saved_params_dir`` is this run's folder (the Trainer's checkpoint_dir; its ``best_model/``
becomes the study's best model); with the population evaluator, later rounds also get
``--model_path``, the parent's folder, whose best weights this run continues from; the metric
goes back with ``finehub.autotune.report``. Anything after ``--`` on the autotune command line is
passed through unchanged::

    finehub autotune examples/autotune/train.py --param-file examples/autotune/hparam.yaml \\
        --tuner pshe2 --evaluator population --popsize 5 --rounds 10 -- --train_size 800

Run it alone to fine-tune once with the defaults below.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import finehub.autotune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--saved_params_dir", default="runs/bbc-news")
    parser.add_argument("--model_path", default=None, help="a parent run folder to start from")
    parser.add_argument("--train_size", type=int, default=400)
    parser.add_argument("--dev_size", type=int, default=100)
    parser.add_argument("--max_seq_len", type=int, default=128)
    parser.add_argument("--max_steps", type=int, default=None)
    parser.add_argument(
        "--keep_checkpoints", action="store_true", help="keep checkpoints/ (only resuming needs it)"
    )
    args = parser.parse_args()

    import finehub as hub
    from finehub.finetune import AdamWeightDecay, RunConfig, TextClassificationTask, Trainer

    data = hub.datasets.load("bbc-news").subset(
        {"train": args.train_size, "dev": args.dev_size, "test": args.dev_size}
    )
    task = TextClassificationTask(
        hub.Module("minilm-l6"),
        num_classes=data.num_classes,
        max_seq_len=args.max_seq_len,
        label_names=data.label_names,
    )
    if args.model_path:  # exploit: start from the parent's best weights, with this run's hyper-parameters
        task.load_weights(Path(args.model_path) / "best_model")
    strategy = AdamWeightDecay(
        learning_rate=args.learning_rate,
        warmup_proportion=args.warmup_proportion,
        weight_decay=args.weight_decay,
    )
    config = RunConfig(
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        eval_interval=1 << 30,
        max_steps=args.max_steps,
        checkpoint_dir=args.saved_params_dir,
        progress=False,
    )
    result = Trainer(task, strategy, config).finetune_and_eval(data)
    if not args.keep_checkpoints:  # a finished trial needs only best_model/; checkpoints hold 3x the weights
        shutil.rmtree(result.run_dir / "checkpoints", ignore_errors=True)
    finehub.autotune.report(result.best_dev_metrics[result.main_metric])


if __name__ == "__main__":
    main()
