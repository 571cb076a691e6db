"""Matmul peak: bf16 and fp32 GFLOP/s on the configured threads.

This is the denominator of training efficiency: a fine-tuning step cannot beat the matmul rate of
the same machine and threads. Shapes: square 1024 and 2048, and MiniLM-L6's feed-forward GEMM at
batch 32 × 128 tokens (4096×384 @ 384×1536), the shape training actually runs.
"""

from __future__ import annotations

from finehub.bench.harness import BenchResult, Contender, Figure, alternate, ratio

SHAPES: dict[str, tuple[int, int, int]] = {  # name -> (m, k, n)
    "1024²": (1024, 1024, 1024),
    "2048²": (2048, 2048, 2048),
    "ffn 4096×384×1536": (4096, 384, 1536),
}
FLOP_PER_REP = 4e10  # about 0.25 s of fp32 work per repetition on two recent cores


def matmul_contender(shape: str, dtype: str, *, flop_per_rep: float = FLOP_PER_REP) -> Contender:
    """A contender doing ``flop_per_rep`` FLOPs of ``shape`` matmuls in ``dtype`` ("fp32"/"bf16")."""
    import torch

    m, k, n = SHAPES[shape]
    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(torch_dtype)
    b = torch.randn(k, n, generator=gen).to(torch_dtype)
    out = torch.empty(m, n, dtype=torch_dtype)
    flop = 2.0 * m * k * n
    calls = max(1, round(flop_per_rep / flop))

    def go() -> dict[str, float]:
        for _ in range(calls):
            torch.mm(a, b, out=out)
        return {"gflop": calls * flop / 1e9}

    return Contender(f"{dtype} {shape}", go)


def peak(stats_by_name: dict, dtype: str = "bf16") -> float:
    """The best GFLOP/s among ``dtype`` contenders."""
    return max(s.rate("gflop") for name, s in stats_by_name.items() if name.startswith(dtype + " "))


def run(*, quick: bool, threads: int) -> BenchResult:
    shapes = ["1024²", "ffn 4096×384×1536"] if quick else list(SHAPES)
    contenders = [matmul_contender(s, d) for s in shapes for d in ("fp32", "bf16")]
    repeats = 5 if quick else 9
    stats = alternate(contenders, repeats=repeats, warmup=1)
    by = {s.name: s for s in stats}
    figures = [ratio(stats, f"bf16 {s}", f"fp32 {s}", unit="gflop", name=f"bf16 / fp32 {s}") for s in shapes]
    figures += [Figure(f"{d} peak", peak(by, d), "GFLOP/s") for d in ("bf16", "fp32")]
    return BenchResult(
        "matmul",
        f"Matmul GFLOP/s on {threads} threads",
        stats,
        figures,
        params={"repeats": repeats, "flop_per_rep": FLOP_PER_REP, "shapes": {s: SHAPES[s] for s in shapes}},
        rate_unit="gflop",
    )
