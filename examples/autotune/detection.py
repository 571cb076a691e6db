"""Fine-tune the pretrained NanoDet on a slice of pasted-objects with the hyper-parameters autotune
hands in (the same contract as train.py: ``--name=value`` per hparam.yaml entry, ``--saved_params_dir``,
``--model_path`` from the population evaluator, the metric back through ``finehub.autotune.report``)::

    finehub autotune examples/autotune/detection.py --param-file examples/autotune/hparam_detection.yaml \\
        --tuner hazero --popsize 4 --rounds 3 -- --train_size 128

The metric is the dev mAP@[.5:.95]; the study's best model is a detector module folder.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import finehub.autotune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--warmup_proportion", type=float, default=0.05)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--train_size", type=int, default=128)
    parser.add_argument("--dev_size", type=int, default=32)
    parser.add_argument("--saved_params_dir", default="runs/detection-trial")
    parser.add_argument("--model_path", default=None, help="a parent run folder to start from")
    args = parser.parse_args()

    import finehub as hub

    data = hub.datasets.load("pasted-objects").subset({"train": args.train_size, "dev": args.dev_size})
    task = hub.ObjectDetectionTask(
        hub.Module("object-detection-nanodet"), num_classes=data.num_classes, image_size=args.image_size
    )
    if args.model_path:  # exploit: start from the parent's best weights, with this run's hyper-parameters
        task.load_weights(Path(args.model_path) / "best_model")
    strategy = hub.AdamWeightDecay(learning_rate=args.learning_rate, warmup_proportion=args.warmup_proportion)
    config = hub.RunConfig(
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        eval_interval=1 << 30,
        checkpoint_dir=args.saved_params_dir,
        progress=False,
    )
    result = hub.Trainer(task, strategy, config).finetune_and_eval(data)
    shutil.rmtree(
        result.run_dir / "checkpoints", ignore_errors=True
    )  # a finished trial needs best_model/ only
    finehub.autotune.report(result.best_dev_metrics[result.main_metric])


if __name__ == "__main__":
    main()
