"""Fine-tune the MiniLM encoder on Chinese reviews in ten lines, then use the result as a module.

On a laptop CPU three epochs over the full data take a long while; try
``ds = ds.subset({"train": 3000, "dev": 500, "test": 500})`` or ``python -m finehub.demo`` first.
"""

import finehub as hub

ds = hub.datasets.load("chinese-reviews")
encoder = hub.Module("minilm-l6")
# extend_vocab_from: MiniLM's English vocabulary lacks most Chinese characters; learn the missing ones
task = hub.TextClassificationTask(
    encoder, num_classes=ds.num_classes, max_seq_len=128, extend_vocab_from=ds.train
)
strategy = hub.AdamWeightDecay(learning_rate=5e-5, warmup_proportion=0.1, weight_decay=0.01)
config = hub.RunConfig(num_epochs=3, batch_size=32, eval_interval=100, checkpoint_dir="runs/zh")
trainer = hub.Trainer(task, strategy, config)
result = trainer.finetune_and_eval(
    ds
)  # dev evaluation, best model, checkpoints (a rerun resumes), curves, report
print(result.test_metrics["accuracy"], task.predict(["房间很干净，服务也好", "再也不会来了"]))
trainer.export("my-sentiment")  # now hub.Module("my-sentiment").classify([...]) works, and can be served
print(hub.Module("my-sentiment").classify(["质量很好，推荐购买"]))
