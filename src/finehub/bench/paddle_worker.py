"""Paddle Inference + oneDNN on a BERT classifier of MiniLM-L6's shape: the classify benchmark's
PaddleHub contender, run by a separate Python that has ``paddlepaddle`` (no finehub, no torch).

    python paddle_worker.py --ids IDS.npz --threads 2 --num-classes 5 --batch-size 32

builds the network as PaddleNLP's BERT does (embeddings + LayerNorm, ``paddle.nn.TransformerEncoder``
with post-norm GELU layers, CLS pooler, linear head; random weights: speed only), exports it with
``paddle.jit.save``, loads it with ``paddle.inference`` with oneDNN on (what PaddleHub deploys
with), prints one JSON line ``{"ready": true, "paddle": VERSION, ...}``, then answers each ``run``
line on stdin with ``{"seconds": S, "samples": N}``: every batch of the token ids in ``IDS.npz``
(``input_ids``, ``attention_mask``; the texts finehub's contenders classify), self-timed so the
pipe does not count. ``quit`` or end of input stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# MiniLM-L6 (all-MiniLM-L6-v2) geometry
VOCAB, HIDDEN, LAYERS, HEADS, FFN, POSITIONS, TYPES = 30522, 384, 6, 12, 1536, 512, 2


def build(num_classes: int):
    import paddle
    from paddle import nn

    class Bert(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(VOCAB, HIDDEN)
            self.position = nn.Embedding(POSITIONS, HIDDEN)
            self.token_type = nn.Embedding(TYPES, HIDDEN)
            self.norm = nn.LayerNorm(HIDDEN, epsilon=1e-12)
            layer = nn.TransformerEncoderLayer(HIDDEN, HEADS, FFN, dropout=0.0, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, LAYERS)
            self.pooler = nn.Linear(HIDDEN, HIDDEN)
            self.classifier = nn.Linear(HIDDEN, num_classes)

        def forward(self, input_ids, attention_mask):
            positions = paddle.arange(input_ids.shape[1], dtype="int64").unsqueeze(0)
            x = (
                self.word(input_ids)
                + self.position(positions)
                + self.token_type(paddle.zeros_like(input_ids))
            )
            x = self.norm(x)
            mask = (1.0 - attention_mask.astype("float32").unsqueeze([1, 2])) * -1e4
            x = self.encoder(x, mask)
            return self.classifier(paddle.tanh(self.pooler(x[:, 0])))

    paddle.seed(0)
    return Bert()


def predictor(num_classes: int, threads: int, folder: Path):
    import paddle
    from paddle.static import InputSpec

    net = build(num_classes)
    net.eval()
    spec = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "attention_mask")]
    prefix = folder / "bert"
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec), str(prefix))
    graph = next(p for p in (prefix.with_suffix(".json"), prefix.with_suffix(".pdmodel")) if p.is_file())
    config = paddle.inference.Config(str(graph), str(prefix.with_suffix(".pdiparams")))
    config.disable_gpu()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(threads)
    config.switch_ir_optim(True)
    config.disable_glog_info()
    return paddle.inference.create_predictor(config)


def main(argv: list[str] | None = None) -> None:
    import numpy as np
    import paddle

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", required=True, help="npz with input_ids and attention_mask (N×T int64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-classes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    data = np.load(args.ids)
    ids, mask = data["input_ids"].astype("int64"), data["attention_mask"].astype("int64")
    batches = [
        (ids[i : i + args.batch_size], mask[i : i + args.batch_size])
        for i in range(0, len(ids), args.batch_size)
    ]
    with tempfile.TemporaryDirectory(prefix="paddle-bench-") as tmp:
        pred = predictor(args.num_classes, args.threads, Path(tmp))
        handles = {n: pred.get_input_handle(n) for n in pred.get_input_names()}
        output = pred.get_output_handle(pred.get_output_names()[0])

        def run_all() -> None:
            for batch in batches:
                for name, array in zip(("input_ids", "attention_mask"), batch, strict=True):
                    handles[name].reshape(list(array.shape))
                    handles[name].copy_from_cpu(array)
                pred.run()
                output.copy_to_cpu()

        run_all()  # the first run builds oneDNN primitives
        print(json.dumps({"ready": True, "paddle": paddle.__version__, "threads": args.threads}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            start = time.perf_counter()
            run_all()
            print(json.dumps({"seconds": time.perf_counter() - start, "samples": len(ids)}), flush=True)


if __name__ == "__main__":
    main()
