"""Inference of a fine-tuned text classifier: eager PyTorch fp32 and bf16 vs ONNX Runtime fp32 and int8.

A MiniLM-L6 topic classifier is fine-tuned briefly on bbc-news (bf16, a few dozen steps; enough
for clear-cut answers), exported as a finehub module, then to ONNX and to int8 ONNX through
``finehub export onnx``. Each contender classifies the same held-out articles (max_len 128,
batch 32) alternately; the figures are speed ratios to eager fp32, and the share of answers
that agree with eager fp32 and that are right.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finehub.bench.harness import BenchResult, Contender, Figure, alternate, ratio

MAX_LEN = 128
TRAIN_STEPS = 40
EAGER_FP32, EAGER_BF16 = "eager fp32", "eager bf16 autocast"
ORT_FP32, ORT_INT8 = "ONNX Runtime fp32", "ONNX Runtime int8"


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
        precision="bf16",
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


def _autocast() -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def run(*, quick: bool, threads: int) -> BenchResult:
    import torch

    from finehub.data.datasets import load
    from finehub.finetune.onnx_export import export_onnx
    from finehub.hub.loader import Module
    from finehub.nn.device import bf16_supported

    test = load("bbc-news").test[: 128 if quick else 256]
    texts = [e.text_a for e in test]
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
        notes = {
            EAGER_FP32: "finehub module, PyTorch",
            EAGER_BF16: "the same module under torch.autocast(bfloat16)",
            ORT_FP32: "finehub export onnx",
            ORT_INT8: "finehub export onnx --quantize int8 (dynamic)",
        }
        order = [n for n in (EAGER_FP32, EAGER_BF16, ORT_FP32, ORT_INT8) if n in modules]
        contenders = [Contender(n, _classifier(modules[n], texts, answers, n), notes[n]) for n in order]
        stats = alternate(contenders, repeats=3 if quick else 5, warmup=1)

    figures = []
    for name in order:
        agree = sum(a == b for a, b in zip(answers[name], answers[EAGER_FP32], strict=True)) / len(texts)
        right = sum(a == b for a, b in zip(answers[name], truth, strict=True)) / len(texts)
        if name != EAGER_FP32:
            figures.append(ratio(stats, name, EAGER_FP32, unit="texts", name=f"{name} / eager fp32"))
            figures.append(Figure(f"{name}: answers as eager fp32", 100 * agree, "%"))
        figures.append(Figure(f"{name}: accuracy", 100 * right, "%", note=f"{len(texts)} test articles"))
    return BenchResult(
        "classify",
        f"Classifying {len(texts)} bbc-news articles with a fine-tuned MiniLM-L6, max_len {MAX_LEN}, "
        f"batch 32, {threads} threads",
        stats,
        figures,
        params={"texts": len(texts), "train_steps": TRAIN_STEPS, "max_len": MAX_LEN},
        rate_unit="texts",
        baseline=EAGER_FP32,
    )
