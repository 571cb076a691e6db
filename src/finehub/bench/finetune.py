"""Fine-tuning throughput: MiniLM-L6 classification, batch 32, max_len 128, on two datasets.

``chinese-reviews`` (sentiment, real lengths from a few tokens to the limit: mean about 60) and
``bbc-news`` (topics, nearly every article fills the 128 tokens). Contenders, each doing ``warmup``
then ``steps`` optimizer steps per repetition, alternately, on each dataset:

- ``transformers.Trainer`` with its defaults (``use_cpu=True``, random batches padded to their
  longest example), and, where the CPU has native bf16, with ``bf16=True``;
- a plain PyTorch loop (fp32, every batch padded to 128 tokens, AdamW), full run only;
- finehub's Trainer in fp32 and, where the CPU has native bf16, bf16; in the full run also its
  best precision with ``cpu_kernels=False`` (the model's own dropout and attention);
- a matmul of the model's feed-forward shape in the precision finehub trained in: the machine's
  peak for that precision, in this same run.

Without native bf16 (an AVX2-only CPU), bf16 would silently run in fp32 (finehub) or in torch's
scalar fallback (transformers), so those contenders are left out and the result says so.

Repetition ``i`` of every trainer runs with seed ``i``: one seed would time the same few batches
each time (on chinese-reviews seed 42's first batches are longer than the epoch's mean), while
new seeds sample the data's length mix. Only the ``steps`` after the warm-up are timed (a step
clock in each trainer's callbacks), so trainer setup and end-of-run saving do not count. Every
contender trains the same encoder on the same examples; samples/s is the main figure. Tokens/s
counts real (non-pad) tokens; the FLOP rate is ``6 × non-embedding params × real tokens +
attention`` (forward and backward), compared with the matmul peak of the precision finehub
trained in.
"""

from __future__ import annotations

import itertools
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
DATASETS = ("chinese-reviews", "bbc-news")
# finehub (best precision) over transformers.Trainer defaults, samples/s: (precision, dataset) -> target
SPEED_TARGETS = {("bf16", "bbc-news"): 3.5, ("fp32", "chinese-reviews"): 2.0, ("fp32", "bbc-news"): 1.4}
PEAK_TARGET = 70.0  # % of the matmul peak of the precision used, on the dataset below
PEAK_DATASET = "bbc-news"  # full-length batches: the same GEMM shapes as the peak
PEAK_SHAPE = "ffn 4096×384×1536"

HF_DEFAULT, HF_BF16, PLAIN = "transformers Trainer", "transformers Trainer bf16", "plain PyTorch fp32"
FH_FP32, FH_BF16 = "finehub Trainer fp32", "finehub Trainer bf16"
FH_PLAIN = "finehub Trainer, cpu_kernels=False"  # at finehub's best precision
BF16_ONLY = (HF_BF16, FH_BF16)


@dataclass(frozen=True)
class Plan:
    repeats: int
    warmup: int  # untimed optimizer steps at the start of each repetition
    steps: int  # timed optimizer steps per repetition
    contenders: tuple[str, ...]  # per dataset; those in BF16_ONLY only where the CPU has bf16


QUICK = Plan(repeats=3, warmup=1, steps=2, contenders=(HF_DEFAULT, FH_FP32, FH_BF16))
FULL = Plan(
    repeats=3,
    warmup=1,
    steps=3,
    contenders=(HF_DEFAULT, HF_BF16, PLAIN, FH_FP32, FH_BF16, FH_PLAIN),
)


def contender_names(plan: Plan, precision: str) -> list[str]:
    """``plan``'s contenders that measure what they say where finehub's best precision is
    ``precision``: the bf16 ones only where it is bf16 (elsewhere bf16 falls back or crawls)."""
    return [n for n in plan.contenders if precision == "bf16" or n not in BF16_ONLY]


def label(name: str, dataset: str) -> str:
    """A contender's name in the results: what ran, on which dataset."""
    return f"{name} · {dataset}"


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

    seeds = itertools.count()

    def go() -> Work:
        cb = _Clock()
        with tempfile.TemporaryDirectory(prefix="finehub-bench-hf-") as out:
            args = TrainingArguments(
                output_dir=out,
                seed=next(seeds),  # seed i in repetition i (see the module docstring)
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

    seeds = itertools.count()

    def go() -> Work:
        cb = _Clock()
        with tempfile.TemporaryDirectory(prefix="finehub-bench-ft-") as run_dir:
            config = RunConfig(
                seed=next(seeds),
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
    import torch

    from finehub.hub.loader import Module
    from finehub.nn.device import bf16_supported

    plan = QUICK if quick else FULL
    precision = "bf16" if bf16_supported(torch.device("cpu")) else "fp32"
    names = contender_names(plan, precision)
    best = FH_BF16 if precision == "bf16" else FH_FP32
    encoder = Module("minilm-l6")
    cfg = encoder.model.config
    non_embedding = sum(
        p.numel() for n, p in encoder.model.named_parameters() if not n.startswith("embeddings.")
    )
    contenders: list[Contender] = []
    per_dataset: dict[str, dict[str, float]] = {}  # dataset -> mean real tokens, FLOPs per sample
    for dataset in DATASETS:
        built, lengths = _contenders(dataset, encoder, plan, names, precision=precision, threads=threads)
        contenders += built
        per_dataset[dataset] = {
            "examples": len(lengths),
            "mean_real_tokens": statistics.fmean(lengths),
            "train_flop_per_sample": flop_per_sample(
                lengths,
                non_embedding_params=non_embedding,
                layers=cfg.num_hidden_layers,
                hidden=cfg.hidden_size,
            ),
        }
    peak_name = f"{precision} matmul peak"
    contenders.append(Contender(peak_name, matmul_contender(PEAK_SHAPE, precision).run, PEAK_SHAPE))

    stats = alternate(contenders, repeats=plan.repeats, warmup=0)
    for st in stats:  # derived units: real tokens and FLOPs follow from the samples
        dataset = st.name.rpartition(" · ")[2]
        if dataset in per_dataset:
            mean_len, per_sample = (
                per_dataset[dataset][k] for k in ("mean_real_tokens", "train_flop_per_sample")
            )
            st.counts_per_rep = [
                {**c, "tokens": c["samples"] * mean_len, "gflop": c["samples"] * per_sample / 1e9}
                for c in st.counts_per_rep
            ]
    by = {s.name: s for s in stats}
    peak = by[peak_name].rate("gflop")
    figures: list[Figure] = []
    for dataset in DATASETS:
        figures.append(
            ratio(
                stats,
                label(best, dataset),
                label(HF_DEFAULT, dataset),
                unit="samples",
                name=f"finehub {precision} / Trainer defaults · {dataset}",
                target=SPEED_TARGETS.get((precision, dataset)),
            )
        )
        figures += [
            ratio(stats, label(a, dataset), label(b, dataset), unit="samples", name=f"{a} / {b} · {dataset}")
            for a, b in (
                (FH_FP32, HF_DEFAULT),
                (FH_BF16, HF_BF16),
                (FH_FP32, PLAIN),
                (FH_BF16, FH_FP32),
                (best, FH_PLAIN),
            )
            if a != best or b != HF_DEFAULT
            if label(a, dataset) in by and label(b, dataset) in by
        ]
    for st in stats:
        if st.name != peak_name:
            is_target = st.name == label(best, PEAK_DATASET)
            figures.append(
                Figure(
                    f"{st.name}: % of {precision} peak",
                    100 * st.rate("gflop") / peak,
                    "%",
                    PEAK_TARGET if is_target else None,
                    note=f"{st.rate('gflop'):.1f} GFLOP/s",
                )
            )
    figures.append(Figure(f"{precision} matmul peak", peak, "GFLOP/s", note=PEAK_SHAPE))
    notes = [
        "tokens/s = samples/s × the mean real length of the dataset's training examples (same data for all)",
        f"FLOPs per sample = 6·N·L + 12·layers·hidden·L² over real tokens; the peak is the {precision} "
        f"matmul rate measured alternately in this run (precision finehub trained in)",
    ]
    if precision == "fp32":
        notes.append(
            "this CPU has no native bf16 (no AVX512-BF16/AMX): the bf16 contenders are left out, the "
            "bf16 targets cannot be measured here, and the fp32 targets apply"
        )
    return BenchResult(
        "finetune",
        f"Fine-tuning MiniLM-L6, batch {BATCH_SIZE}, max_len {MAX_LEN}, {threads} threads, "
        f"finehub at {precision}",
        stats,
        figures,
        params={
            "repeats": plan.repeats,
            "warmup_steps": plan.warmup,
            "timed_steps": plan.steps,
            "batch_size": BATCH_SIZE,
            "max_len": MAX_LEN,
            "precision": precision,
            "non_embedding_params": non_embedding,
            "datasets": {k: {n: round(v, 2) for n, v in d.items()} for k, d in per_dataset.items()},
        },
        notes=notes,
        rate_unit="samples",
        baseline=label(HF_DEFAULT, DATASETS[0]),
    )


def _contenders(
    dataset: str, encoder: Any, plan: Plan, names: list[str], *, precision: str, threads: int
) -> tuple[list[Contender], list[int]]:
    """``names``' contenders training on ``dataset``'s train split, and its real token lengths."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from finehub.data.dataset import Dataset
    from finehub.data.datasets import load
    from finehub.finetune.tasks import TextClassificationTask

    full = load(dataset)
    data = Dataset(full.name, {"train": full.train}, full.label_names)  # no dev/test: steps only
    texts, labels = [e.text_a for e in data.train], [int(e.label) for e in data.train]  # type: ignore[arg-type]
    tokenizer, folder = encoder.tokenizer, str(encoder.source_dir)

    def hf_model() -> Any:
        hf_logging.set_verbosity_error()  # the new classifier head is expected, not worth a warning
        return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=data.num_classes)

    enc = tokenizer(texts, truncation=True, max_length=MAX_LEN)
    builders: dict[str, Callable[[], Callable[[], Any]]] = {}
    if HF_DEFAULT in names or HF_BF16 in names:
        hf = hf_model()  # both Trainer contenders train this one model
        items = [{**{k: enc[k][i] for k in enc}, "labels": y} for i, y in enumerate(labels)]
        builders[HF_DEFAULT] = lambda: _hf_trainer(hf, tokenizer, items, plan, bf16=False)
        builders[HF_BF16] = lambda: _hf_trainer(hf, tokenizer, items, plan, bf16=True)
    builders[PLAIN] = lambda: _plain_loop(hf_model(), tokenizer, texts, labels, plan)
    # every finehub contender trains this one task
    task = TextClassificationTask(encoder, num_classes=data.num_classes, max_seq_len=MAX_LEN)
    builders[FH_FP32] = lambda: _finehub_trainer(task, data, plan, precision="fp32", threads=threads)
    builders[FH_BF16] = lambda: _finehub_trainer(task, data, plan, precision="bf16", threads=threads)
    builders[FH_PLAIN] = lambda: _finehub_trainer(
        task, data, plan, precision=precision, threads=threads, cpu_kernels=False
    )
    notes = {
        HF_DEFAULT: "defaults, use_cpu=True, dynamic padding",
        HF_BF16: "bf16=True",
        PLAIN: "AdamW, fixed padding to 128",
        FH_FP32: 'precision="fp32", length buckets',
        FH_BF16: 'precision="bf16", length buckets',
        FH_PLAIN: f"{precision}, torch dropout, SDPA attention",
    }
    built = [
        Contender(label(name, dataset), _pinned(builders[name](), threads), notes[name]) for name in names
    ]
    return built, [len(ids) for ids in enc["input_ids"]]
