"""Fine-tune multilingual-e5-small on all Chinese reviews (the full recipe), then use the result
as a module.

    python examples/finetune_chinese_reviews.py                      # the README's full-recipe row
    python examples/finetune_chinese_reviews.py --encoder minilm-l6  # English MiniLM + new characters

Every layer trains (only the word embeddings stay frozen), two epochs, bf16 where the CPU has
native bf16 and fp32 elsewhere. On a 2-core CPU that is tens of minutes with bf16 and hours
without; ``python -m finehub.demo`` is the few-minute version.
"""

import argparse

import finehub as hub

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument(
    "--encoder", choices=("multilingual-e5-small", "minilm-l6"), default="multilingual-e5-small"
)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--learning-rate", type=float, default=5e-5)
parser.add_argument("--run-dir", default="runs/zh")
args = parser.parse_args()

ds = hub.datasets.load("chinese-reviews")
encoder = hub.Module(args.encoder)
# MiniLM's English vocabulary lacks most Chinese characters: extend_vocab_from learns the missing ones
vocab = {"extend_vocab_from": ds.train} if args.encoder == "minilm-l6" else {}
task = hub.TextClassificationTask(encoder, num_classes=ds.num_classes, max_seq_len=128, **vocab)
strategy = hub.AdamWeightDecay(learning_rate=args.learning_rate, warmup_proportion=0.1, weight_decay=0.01)
config = hub.RunConfig(
    num_epochs=args.epochs, batch_size=32, eval_interval=100, precision="bf16", checkpoint_dir=args.run_dir
)
trainer = hub.Trainer(task, strategy, config)
result = trainer.finetune_and_eval(
    ds.subset({"dev": 500}, seed=0)
)  # best model on 500 dev reviews, all tests
print(result.test_metrics["accuracy"], task.predict(["房间很干净，服务也好", "再也不会来了"]))
trainer.export("my-sentiment")  # now hub.Module("my-sentiment").classify([...]) works, and can be served
print(hub.Module("my-sentiment").classify(["质量很好，推荐购买"]))
