"""A tiny random-init BERT and a toy dataset: the real Trainer code path in seconds.

Run as a script (``python finetune_support.py RUN_DIR``) it fine-tunes once into RUN_DIR, which
the kill-and-resume test uses as its child process.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from finehub.finetune.callbacks import Callback

WORDS = [f"w{i}" for i in range(40)]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_backbone(seed: int = 0, tmp: Path | None = None):
    """A 2-layer, 32-wide BERT with random weights and a 45-token WordPiece vocabulary."""
    from transformers import BertConfig, BertTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIAL, *WORDS])}
    tokenizer = BertTokenizerFast(vocab=vocab)
    assert len(tokenizer) == len(vocab)
    config = BertConfig(vocab_size=len(vocab), num_hidden_layers=2, max_position_embeddings=64)
    return tiny_encoder(config, tokenizer, seed=seed, tmp=tmp)


def tiny_encoder(config: Any, tokenizer: Any, *, seed: int = 0, tmp: Path | None = None):
    """``config``'s architecture made 32 wide (2 heads, FFN 64) with random weights drawn from
    ``seed``, as a mean-pooled TextBackbone over ``tokenizer`` (64-token limit)."""
    import torch
    from transformers import AutoModel

    from finehub.nn.backbone import TextBackbone

    config.update({"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64})
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    return TextBackbone(model, tokenizer, 32, "mean", tmp or Path("."), 64)


def toy_dataset(n_train: int = 192, n_dev: int = 48, n_test: int = 48, seed: int = 0):
    """Texts of 2-20 words; the label says whether words from the first half of the vocabulary
    outnumber those from the second half (learnable, not trivially)."""
    from finehub.data.dataset import Dataset, TextExample

    rng = random.Random(seed)

    def example() -> TextExample:
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 20))]
        low = sum(int(w[1:]) < len(WORDS) // 2 for w in words)
        return TextExample(" ".join(words), int(low * 2 > len(words)))

    splits = {
        name: [example() for _ in range(n)]
        for name, n in (("train", n_train), ("dev", n_dev), ("test", n_test))
    }
    return Dataset("toy", splits, ["high", "low"])


class SlowDown(Callback):
    """Sleeps after every step, so a test can kill the child process mid-run."""

    def on_step_end(self, state, control):
        time.sleep(float(os.environ["FINEHUB_TEST_STEP_DELAY"]))


def run_tiny(
    run_dir: Path,
    callbacks: tuple[Callback, ...] = (),
    task: Any = None,
    strategy: Any = None,
    dataset: Any = None,
    **config: Any,
):
    """Fine-tune ``task`` (default: a classifier on the tiny BERT) with ``strategy`` (default:
    AdamWeightDecay at 3e-3) on ``dataset`` (default: the toy data) into ``run_dir``; returns
    (trainer, result)."""
    import finehub.finetune as ft

    task = task or ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32, seed=1)
    settings: dict[str, Any] = dict(
        num_epochs=4,
        batch_size=8,
        eval_interval=6,
        log_interval=1,
        save_ckpt_interval=3,
        checkpoint_dir=str(run_dir),
        progress=False,
        tensorboard=False,
        plots=False,
        num_threads=1,
    )
    settings.update(config)
    trainer = ft.Trainer(
        task,
        strategy or ft.AdamWeightDecay(learning_rate=3e-3, warmup_proportion=0.1),
        ft.RunConfig(**settings),
        callbacks=[*callbacks, *([SlowDown()] if os.environ.get("FINEHUB_TEST_STEP_DELAY") else [])],
    )
    return trainer, trainer.finetune_and_eval(dataset or toy_dataset())


def run_tiny_detection(run_dir: Path) -> tuple[Any, Any]:
    """The pretrained NanoDet fine-tuned on a slice of pasted-objects at 64 px: 16 steps of 4 images,
    augmented, with the same checkpoint and evaluation rhythm as :func:`run_tiny`."""
    import finehub as hub

    ds = hub.datasets.load("pasted-objects").subset({"train": 32, "dev": 8, "test": 8})
    task = hub.ObjectDetectionTask(hub.Module("object-detection-nanodet"), num_classes=3, image_size=64)
    return run_tiny(run_dir, task=task, dataset=ds, num_epochs=2, batch_size=4)


def run_tiny_cached(run_dir: Path, **config: Any) -> tuple[Any, Any]:
    """:func:`run_tiny` with a hidden-layer head on the frozen tiny BERT's cached, standardised features."""
    import finehub.finetune as ft

    backbone = tiny_backbone()
    backbone.model.requires_grad_(False)
    task = ft.TextClassificationTask(
        backbone, num_classes=2, max_seq_len=32, seed=1, cache_features=True, head_hidden_size=16
    )
    return run_tiny(run_dir, task=task, **config)


if __name__ == "__main__":
    kind = sys.argv[2] if len(sys.argv) > 2 else "text"
    run = {"text": run_tiny, "detection": run_tiny_detection, "cached": run_tiny_cached}[kind]
    _, result = run(Path(sys.argv[1]))
    print(
        json.dumps({"test": result.test_metrics, "steps": result.steps, "resumed_from": result.resumed_from})
    )
