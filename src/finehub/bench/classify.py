"""Inference of a fine-tuned text classifier: eager PyTorch fp32 and bf16 vs ONNX Runtime fp32 and int8.

A MiniLM-L6 topic classifier is fine-tuned briefly on bbc-news (bf16, a few dozen steps; enough
for clear-cut answers), exported as a finehub module, then to ONNX and to int8 ONNX through
``finehub export onnx``. Each contender classifies the same held-out articles (max_len 128,
batch 32) alternately; the figures are speed ratios to eager fp32, and the share of answers
that agree with eager fp32 and that are right.

PaddleHub's deployment engine joins when a Python with ``paddlepaddle`` is named by
``FINEHUB_PADDLE_PYTHON`` (``make bench-paddle`` builds one in ``.venv-paddle``): Paddle Inference
with oneDNN runs a BERT of the same shape (:mod:`finehub.bench.paddle_worker`, in that Python's own
process, answering each repetition in turn) on the very token ids finehub's ONNX graphs get, beside
those graphs (and, where the CPU has bf16, the eager network under bf16 autocast) run on the same
ids, so tokenisation is left out of both sides.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finehub.bench.harness import BenchResult, Contender, Figure, Work, alternate, ratio

MAX_LEN = 128
TRAIN_STEPS = 40
EAGER_FP32, EAGER_BF16 = "eager fp32", "eager bf16 autocast"
ORT_FP32, ORT_INT8 = "ONNX Runtime fp32", "ONNX Runtime int8"
IDS = " · token ids"  # suffix of the engine-only contenders, compared with Paddle
PADDLE = "Paddle Inference + oneDNN fp32" + IDS
PADDLE_ENV = "FINEHUB_PADDLE_PYTHON"  # a Python with paddlepaddle installed
PADDLE_TARGET = 1.3  # finehub's best engine over Paddle Inference, same ids


class PaddleWorker:
    """:mod:`finehub.bench.paddle_worker` in ``python``'s own process: one repetition per ``run()``."""

    def __init__(self, python: str, ids: Path, *, threads: int, num_classes: int) -> None:
        worker = Path(__file__).with_name("paddle_worker.py")
        command = [python, str(worker), "--ids", str(ids), "--threads", str(threads)]
        self.proc = subprocess.Popen(
            [*command, "--num-classes", str(num_classes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # Paddle's own start-up chatter
            text=True,
        )
        self.info = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Paddle worker exited with status {self.proc.wait()} before answering")
        return json.loads(line)

    def run(self) -> Work:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        answer = self._answer()
        return Work({"texts": answer["samples"]}, answer["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def paddle_python() -> tuple[str | None, str]:
    """The Python to run Paddle with, or None and why it is left out."""
    python = os.environ.get(PADDLE_ENV)
    if not python:
        return (
            None,
            f"Paddle Inference left out: set {PADDLE_ENV} to a Python with paddlepaddle (make bench-paddle)",
        )
    if not Path(python).is_file():
        return None, f"Paddle Inference left out: {PADDLE_ENV}={python} does not exist"
    return python, ""


def _finetune(run_dir: Path, threads: int) -> Path:
    """A briefly fine-tuned bbc-news classifier's module folder."""
    from finehub.data.datasets import load
    from finehub.finetune import AdamWeightDecay, RunConfig, TextClassificationTask, Trainer
    from finehub.hub.loader import Module

    data = load("bbc-news")
    task = TextClassificationTask(Module("minilm-l6"), num_classes=data.num_classes, max_seq_len=MAX_LEN)
    config = RunConfig(
        max_steps=TRAIN_STEPS,
        eval_interval=TRAIN_STEPS,
        precision="bf16",  # fp32 where the CPU has no bf16
        num_threads=threads,
        checkpoint_dir=str(run_dir),
        progress=False,
        tensorboard=False,
        plots=False,
    )
    return Trainer(task, AdamWeightDecay(learning_rate=1e-4), config).finetune_and_eval(data).best_model_dir


def _classifier(module: Any, texts: list[str], answers: dict[str, list[str]], name: str) -> Callable[[], Any]:
    def go() -> dict[str, float]:
        with _autocast() if name == EAGER_BF16 else contextlib.nullcontext():
            answers[name] = [r["label"] for r in module.predict(texts)]
        return {"texts": len(texts)}

    return go


def _engine(module: Any, feeds: list[dict[str, Any]], n: int) -> Callable[[], Any]:
    """An ONNX module's graph alone on prepared ``feeds`` (no tokenisation, no post-processing)."""

    def go() -> dict[str, float]:
        for batch in feeds:
            module.raw_outputs(batch)
        return {"texts": n}

    return go


def _eager_engine(module: Any, feeds: list[dict[str, Any]], n: int) -> Callable[[], Any]:
    """The eager network alone under bf16 autocast, on the ONNX graphs' ``feeds``."""
    import torch

    from finehub.modules.finetuned import run_batches

    batches, start = [], 0
    for feed in feeds:
        size = len(feed["input_ids"])
        batches.append((range(start, start + size), {k: torch.from_numpy(v) for k, v in feed.items()}))
        start += size

    def go() -> dict[str, float]:
        with _autocast():
            run_batches(module.net, batches, n)
        return {"texts": n}

    return go


def _padded(feeds: dict[str, Any]) -> dict[str, Any]:
    """Every array of a batch padded with zeros to MAX_LEN tokens: one shape for both engines."""
    import numpy as np

    return {k: np.pad(v, ((0, 0), (0, MAX_LEN - v.shape[1]))) for k, v in feeds.items()}


def _autocast() -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def run(*, quick: bool, threads: int) -> BenchResult:
    import numpy as np
    import torch

    from finehub.data.datasets import load
    from finehub.finetune.onnx_export import export_onnx
    from finehub.hub.loader import Module
    from finehub.nn.device import bf16_supported

    test = load("bbc-news").test[: 128 if quick else 256]
    texts = [e.text_a for e in test]
    python, paddle_note = paddle_python()
    notes = [paddle_note] if paddle_note else []
    paddle: PaddleWorker | None = None
    with tempfile.TemporaryDirectory(prefix="finehub-bench-classify-") as tmp:
        folder = _finetune(Path(tmp) / "run", threads)
        label_names = Module(str(folder)).info.config["label_names"]
        truth = [label_names[int(e.label)] for e in test]  # type: ignore[arg-type]
        fp32_onnx = export_onnx(folder, Path(tmp) / "onnx", dataset="bbc-news", max_eval=128)
        int8_onnx = export_onnx(folder, Path(tmp) / "int8", quantize="int8", dataset="bbc-news", max_eval=128)
        modules = {
            EAGER_FP32: Module(str(folder), device="cpu"),
            ORT_FP32: Module(str(fp32_onnx.folder), num_threads=threads),
            ORT_INT8: Module(str(int8_onnx.folder), num_threads=threads),
        }
        if bf16_supported(torch.device("cpu")):
            modules[EAGER_BF16] = modules[EAGER_FP32]
        answers: dict[str, list[str]] = {}
        described = {
            EAGER_FP32: "finehub module, PyTorch",
            EAGER_BF16: "the same module under torch.autocast(bfloat16)",
            ORT_FP32: "finehub export onnx",
            ORT_INT8: "finehub export onnx --quantize int8 (dynamic)",
        }
        order = [n for n in (EAGER_FP32, EAGER_BF16, ORT_FP32, ORT_INT8) if n in modules]
        contenders = [Contender(n, _classifier(modules[n], texts, answers, n), described[n]) for n in order]
        if python is not None:
            feeds = [_padded(modules[ORT_FP32].feeds(texts[i : i + 32])) for i in range(0, len(texts), 32)]
            for name in (ORT_FP32, ORT_INT8):
                contenders.append(
                    Contender(name + IDS, _engine(modules[name], feeds, len(texts)), "the graph alone")
                )
            if EAGER_BF16 in modules:
                engine = _eager_engine(modules[EAGER_BF16], feeds, len(texts))
                contenders.append(Contender(EAGER_BF16 + IDS, engine, "the network alone"))
            ids = Path(tmp) / "ids.npz"
            np.savez(
                ids, **{k: np.concatenate([f[k] for f in feeds]) for k in ("input_ids", "attention_mask")}
            )
            paddle = PaddleWorker(python, ids, threads=threads, num_classes=len(label_names))
            contenders.append(
                Contender(PADDLE, paddle.run, f"paddle {paddle.info['paddle']}, random weights, same shape")
            )
        try:
            stats = alternate(contenders, repeats=3 if quick else 5, warmup=1)
        finally:
            if paddle is not None:
                paddle.close()

    figures = []
    for name in order:
        agree = sum(a == b for a, b in zip(answers[name], answers[EAGER_FP32], strict=True)) / len(texts)
        right = sum(a == b for a, b in zip(answers[name], truth, strict=True)) / len(texts)
        if name != EAGER_FP32:
            figures.append(ratio(stats, name, EAGER_FP32, unit="texts", name=f"{name} / eager fp32"))
            figures.append(Figure(f"{name}: answers as eager fp32", 100 * agree, "%"))
        figures.append(Figure(f"{name}: accuracy", 100 * right, "%", note=f"{len(texts)} test articles"))
    if paddle is not None:
        by = {s.name: s for s in stats}
        engines = [n + IDS for n in (ORT_FP32, ORT_INT8, EAGER_BF16) if n + IDS in by]
        best = max(engines, key=lambda n: by[n].rate("texts"))
        figures.append(
            ratio(
                stats,
                best,
                PADDLE,
                unit="texts",
                name="finehub best engine / Paddle Inference",
                target=PADDLE_TARGET,
            )
        )
        figures += [ratio(stats, n, PADDLE, unit="texts") for n in engines if n != best]
    return BenchResult(
        "classify",
        f"Classifying {len(texts)} bbc-news articles with a fine-tuned MiniLM-L6, max_len {MAX_LEN}, "
        f"batch 32, {threads} threads",
        stats,
        figures,
        params={"texts": len(texts), "train_steps": TRAIN_STEPS, "max_len": MAX_LEN},
        notes=notes,
        rate_unit="texts",
        baseline=EAGER_FP32,
    )
