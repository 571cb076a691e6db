"""Fine-tuning throughput: MiniLM-L6 topic classification on bbc-news, batch 32, max_len 128.

Contenders, each doing ``warmup`` then ``steps`` optimizer steps per repetition, alternately:

- ``transformers.Trainer`` with its defaults (``use_cpu=True``), and with ``bf16=True``;
- a plain PyTorch loop (fp32, every batch padded to 128 tokens, AdamW);
- finehub's Trainer (``precision="fp32"`` and ``"bf16"``), and in the full run also bf16 with
  ``cpu_kernels=False`` (autocast and the model's own dropout and attention) to show what the
  CPU kernels and the bf16 encoder copy bring;
- a bf16 matmul of the model's feed-forward shape: the machine's peak in this same run.

Only the ``steps`` after the warm-up are timed (a step clock in each trainer's callbacks), so
trainer setup and end-of-run saving do not count. Every contender trains the same encoder on the
same examples; samples/s is the main figure. Tokens/s counts real (non-pad) tokens; the FLOP
rate is ``6 × non-embedding params × real tokens + attention`` (forward and backward), compared
with the bf16 matmul peak.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.bench.harness import BenchResult, Contender, Figure, Work, alternate, ratio
from finehub.bench.matmul import matmul_contender

if TYPE_CHECKING:
    from finehub.data.dataset import Dataset

BATCH_SIZE = 32
MAX_LEN = 128
LEARNING_RATE = 5e-5
SPEED_TARGET = 3.5  # finehub (best precision) over transformers.Trainer defaults, samples/s
PEAK_TARGET = 50.0  # % of the bf16 matmul peak
PEAK_SHAPE = "ffn 4096×384×1536"

HF_DEFAULT, HF_BF16, PLAIN = "transformers Trainer", "transformers Trainer bf16", "plain PyTorch fp32"
FH_FP32, FH_BF16, PEAK = "finehub Trainer fp32", "finehub Trainer bf16", "bf16 matmul peak"
FH_BF16_PLAIN = "finehub Trainer bf16, cpu_kernels=False"


@dataclass(frozen=True)
class Plan:
    repeats: int
    warmup: int  # untimed optimizer steps at the start of each repetition
    steps: int  # timed optimizer steps per repetition
    contenders: tuple[str, ...]


QUICK = Plan(repeats=3, warmup=1, steps=2, contenders=(HF_DEFAULT, FH_FP32, FH_BF16, PEAK))
FULL = Plan(
    repeats=5,
    warmup=1,
    steps=6,
    contenders=(HF_DEFAULT, HF_BF16, PLAIN, FH_FP32, FH_BF16, FH_BF16_PLAIN, PEAK),
)


class StepClock:
    """Times optimizer steps ``warmup+1 .. warmup+steps`` from a trainer's step-end events."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.start: float | None = None
        self.end: float | None = None

    def tick(self, step: int) -> None:
        """Call at the end of optimizer step ``step`` (1-based)."""
        if step == self.warmup:
            self.start = time.perf_counter()
        elif step == self.warmup + self.steps:
            self.end = time.perf_counter()

    def work(self) -> Work:
        if self.start is None or self.end is None:
            raise RuntimeError(f"the trainer stopped before step {self.warmup + self.steps}")
        return Work({"samples": self.steps * BATCH_SIZE}, self.end - self.start)


def flop_per_sample(lengths: Sequence[int], *, non_embedding_params: int, layers: int, hidden: int) -> float:
    """Training FLOPs (forward + backward) of one example, averaged over ``lengths`` real tokens:
    6·N·L for the weights plus 12·layers·hidden·L² for attention scores and values."""
    return statistics.fmean(6 * non_embedding_params * n + 12 * layers * hidden * n * n for n in lengths)


def _pinned(fn: Callable[[], Any], threads: int) -> Callable[[], Any]:
    """``fn`` run on ``threads`` torch threads, whatever the contender before it left set."""

    def go() -> Any:
        import torch

        torch.set_num_threads(threads)
        return fn()

    return go


def _hf_trainer(
    model: Any, tokenizer: Any, items: list[dict[str, Any]], plan: Plan, *, bf16: bool
) -> Callable[[], Work]:
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    class _Clock(TrainerCallback):
        def __init__(self) -> None:
            self.clock = StepClock(plan.warmup, plan.steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.clock.tick(state.global_step)

    def go() -> Work:
        cb = _Clock()
        with tempfile.TemporaryDirectory(prefix="finehub-bench-hf-") as out:
            args = TrainingArguments(
                output_dir=out,
                use_cpu=True,
                bf16=bf16,
                per_device_train_batch_size=BATCH_SIZE,
                learning_rate=LEARNING_RATE,
                max_steps=plan.warmup + plan.steps,
                save_strategy="no",  # outside the timed steps anyway; spares the disk
                report_to="none",
                disable_tqdm=True,
            )
            trainer = Trainer(
                model=model, args=args, train_dataset=items, processing_class=tokenizer, callbacks=[cb]
            )
            trainer.remove_callback(PrinterCallback)  # it prints the end-of-run summary to stdout
            trainer.train()
        return cb.clock.work()

    return go


def _plain_loop(
    model: Any, tokenizer: Any, texts: list[str], labels: list[int], plan: Plan
) -> Callable[[], Work]:
    import torch

    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=MAX_LEN, return_tensors="pt")
    y = torch.tensor(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    position = 0

    def step() -> None:
        nonlocal position
        idx = torch.arange(position, position + BATCH_SIZE) % len(y)
        position += BATCH_SIZE
        out = model(input_ids=enc["input_ids"][idx], attention_mask=enc["attention_mask"][idx], labels=y[idx])
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def go() -> Work:
        clock = StepClock(plan.warmup, plan.steps)
        clock.tick(0)
        for i in range(1, plan.warmup + plan.steps + 1):
            step()
            clock.tick(i)
        return clock.work()

    return go


def _finehub_trainer(
    task: Any, dataset: Dataset, plan: Plan, *, precision: str, threads: int, cpu_kernels: bool = True
) -> Callable[[], Work]:
    from finehub.finetune.callbacks import Callback
    from finehub.finetune.config import RunConfig
    from finehub.finetune.strategies import AdamWeightDecay
    from finehub.finetune.trainer import Trainer

    class _Clock(Callback):
        def __init__(self) -> None:
            self.clock = StepClock(plan.warmup, plan.steps)

        def on_step_end(self, state: Any, control: Any) -> None:
            self.clock.tick(state.step)

    def go() -> Work:
        cb = _Clock()
        with tempfile.TemporaryDirectory(prefix="finehub-bench-ft-") as run_dir:
            config = RunConfig(
                batch_size=BATCH_SIZE,
                max_steps=plan.warmup + plan.steps,
                precision=precision,  # type: ignore[arg-type]
                num_threads=threads,
                cpu_kernels=cpu_kernels,
                checkpoint_dir=str(Path(run_dir) / "run"),
                progress=False,
                tensorboard=False,
                plots=False,
            )
            Trainer(
                task, AdamWeightDecay(learning_rate=LEARNING_RATE), config, callbacks=[cb]
            ).finetune_and_eval(dataset)
        return cb.clock.work()

    return go


def run(*, quick: bool, threads: int) -> BenchResult:
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from finehub.data.dataset import Dataset
    from finehub.data.datasets import load
    from finehub.finetune.tasks import TextClassificationTask
    from finehub.hub.loader import Module

    plan = QUICK if quick else FULL
    full = load("bbc-news")
    data = Dataset(full.name, {"train": full.train}, full.label_names)  # no dev/test: steps only
    texts, labels = [e.text_a for e in data.train], [int(e.label) for e in data.train]  # type: ignore[arg-type]
    encoder = Module("minilm-l6")
    tokenizer, folder = encoder.tokenizer, str(encoder.source_dir)

    def hf_model() -> Any:
        hf_logging.set_verbosity_error()  # the new classifier head is expected, not worth a warning
        return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=data.num_classes)

    enc = tokenizer(texts, truncation=True, max_length=MAX_LEN)
    lengths = [len(ids) for ids in enc["input_ids"]]
    builders: dict[str, Callable[[], Callable[[], Any]]] = {}
    if HF_DEFAULT in plan.contenders or HF_BF16 in plan.contenders:
        hf = hf_model()  # both Trainer contenders train this one model
        items = [{**{k: enc[k][i] for k in enc}, "labels": y} for i, y in enumerate(labels)]
        builders[HF_DEFAULT] = lambda: _hf_trainer(hf, tokenizer, items, plan, bf16=False)
        builders[HF_BF16] = lambda: _hf_trainer(hf, tokenizer, items, plan, bf16=True)
    builders[PLAIN] = lambda: _plain_loop(hf_model(), tokenizer, texts, labels, plan)
    # both finehub contenders train this one task
    task = TextClassificationTask(encoder, num_classes=data.num_classes, max_seq_len=MAX_LEN)
    builders[FH_FP32] = lambda: _finehub_trainer(task, data, plan, precision="fp32", threads=threads)
    builders[FH_BF16] = lambda: _finehub_trainer(task, data, plan, precision="bf16", threads=threads)
    builders[FH_BF16_PLAIN] = lambda: _finehub_trainer(
        task, data, plan, precision="bf16", threads=threads, cpu_kernels=False
    )
    builders[PEAK] = lambda: matmul_contender(PEAK_SHAPE, "bf16").run
    notes = {
        HF_DEFAULT: "defaults, use_cpu=True, dynamic padding",
        HF_BF16: "bf16=True",
        PLAIN: "AdamW, fixed padding to 128",
        FH_FP32: 'precision="fp32"',
        FH_BF16: 'precision="bf16"',
        FH_BF16_PLAIN: "autocast, torch dropout, SDPA attention",
        PEAK: PEAK_SHAPE,
    }
    contenders = [
        Contender(name, _pinned(builders[name](), threads), notes[name]) for name in plan.contenders
    ]

    mean_len = statistics.fmean(lengths)
    cfg = encoder.model.config
    non_embedding = sum(
        p.numel() for n, p in encoder.model.named_parameters() if not n.startswith("embeddings.")
    )
    per_sample = flop_per_sample(
        lengths, non_embedding_params=non_embedding, layers=cfg.num_hidden_layers, hidden=cfg.hidden_size
    )

    stats = alternate(contenders, repeats=plan.repeats, warmup=0)
    for st in stats:  # derived units: real tokens and FLOPs follow from the samples
        if st.name != PEAK:
            st.counts_per_rep = [
                {**c, "tokens": c["samples"] * mean_len, "gflop": c["samples"] * per_sample / 1e9}
                for c in st.counts_per_rep
            ]
    by = {s.name: s for s in stats}
    peak = by[PEAK].rate("gflop")
    figures = [
        ratio(
            stats,
            FH_BF16,
            HF_DEFAULT,
            unit="samples",
            name="finehub bf16 / Trainer defaults",
            target=SPEED_TARGET,
        )
    ]
    figures += [
        ratio(stats, a, b, unit="samples", name=f"{a} / {b}")
        for a, b in (
            (FH_FP32, HF_DEFAULT),
            (FH_BF16, HF_BF16),
            (FH_FP32, PLAIN),
            (FH_BF16, FH_FP32),
            (FH_BF16, FH_BF16_PLAIN),
        )
        if a in by and b in by
    ]
    for name in plan.contenders:
        if name != PEAK:
            share = 100 * by[name].rate("gflop") / peak
            target = PEAK_TARGET if name == FH_BF16 else None
            figures.append(
                Figure(
                    f"{name}: % of bf16 peak",
                    share,
                    "%",
                    target,
                    note=f"{by[name].rate('gflop'):.1f} GFLOP/s",
                )
            )
    figures.append(Figure("bf16 matmul peak", peak, "GFLOP/s", note=PEAK_SHAPE))
    return BenchResult(
        "finetune",
        f"Fine-tuning MiniLM-L6 on bbc-news, batch {BATCH_SIZE}, max_len {MAX_LEN}, {threads} threads",
        stats,
        figures,
        params={
            "repeats": plan.repeats,
            "warmup_steps": plan.warmup,
            "timed_steps": plan.steps,
            "batch_size": BATCH_SIZE,
            "max_len": MAX_LEN,
            "train_examples": len(texts),
            "mean_real_tokens": round(mean_len, 2),
            "non_embedding_params": non_embedding,
            "train_flop_per_sample": per_sample,
        },
        notes=[
            "tokens/s = samples/s × the mean real length of the training examples (same data for all)",
            "FLOPs per sample = 6·N·L + 12·layers·hidden·L² over real tokens; the peak is the bf16 matmul "
            "rate measured alternately in this run",
        ],
        rate_unit="samples",
        baseline=HF_DEFAULT,
    )
