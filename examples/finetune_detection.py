"""Fine-tune the pretrained NanoDet on a detection dataset, then export and use the detector.

    python examples/finetune_detection.py                         # the built-in composite set
    python examples/finetune_detection.py --random-init           # the same network from random weights
    python examples/finetune_detection.py --coco data/instances_train.json --images data/images

The README's detection figures come from the first two commands (same steps, same data).
"""

from __future__ import annotations

import argparse
import json

import finehub as hub


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--coco", help="a COCO instances JSON (default: the built-in 'pasted-objects')")
    parser.add_argument("--images", help="the COCO images folder")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--random-init", action="store_true", help="start from random weights (baseline)")
    parser.add_argument("--run-dir", default="runs/detection")
    parser.add_argument("--export-name", default="my-detector")
    args = parser.parse_args()

    ds = hub.datasets.from_coco(args.coco, args.images) if args.coco else hub.datasets.load("pasted-objects")
    task = hub.ObjectDetectionTask(
        hub.Module("object-detection-nanodet"),
        num_classes=ds.num_classes,
        label_names=ds.label_names,
        image_size=args.image_size,
        pretrained=not args.random_init,
    )
    strategy = hub.AdamWeightDecay(
        learning_rate=args.learning_rate, warmup_proportion=0.05, weight_decay=0.05
    )
    config = hub.RunConfig(
        num_epochs=args.epochs, batch_size=16, eval_interval=50, checkpoint_dir=args.run_dir
    )
    trainer = hub.Trainer(task, strategy, config)
    result = trainer.finetune_and_eval(ds)
    print(json.dumps({"dev": result.best_dev_metrics, "test": result.test_metrics}, indent=1))
    if not args.random_init:
        trainer.export(args.export_name)
        detector = hub.Module(args.export_name)
        print(detector.object_detection(images=[ds.test[0].image], score_thresh=0.4))


if __name__ == "__main__":
    main()
