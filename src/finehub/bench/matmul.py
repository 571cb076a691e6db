"""Matmul peak: bf16 and fp32 GFLOP/s on the configured threads.

This is the denominator of training efficiency: a fine-tuning step cannot beat the matmul rate of
the same machine and threads. Shapes: square 1024 and 2048, and MiniLM-L6's feed-forward GEMM at
batch 32 × 128 tokens (4096×384 @ 384×1536), the shape training actually runs.

On that shape, fp32 also runs through the other GEMM libraries at hand, on the same threads:
oneDNN (torch's mkldnn linear), OpenBLAS (numpy's) and MLAS (onnxruntime's MatMul), to check
whether a library other than torch's MKL would make fp32 training or inference faster on this CPU.
"""

from __future__ import annotations

import contextlib
from typing import Any

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


def library_contenders(shape: str, threads: int) -> list[Contender]:
    """fp32 ``shape`` matmuls through oneDNN, OpenBLAS and MLAS (each where installed)."""
    import numpy as np
    import torch

    m, k, n = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    flop = 2.0 * m * k * n
    calls = max(1, round(FLOP_PER_REP / flop))

    def contender(library: str, one: Any) -> Contender:
        def go() -> dict[str, float]:
            for _ in range(calls):
                one()
            return {"gflop": calls * flop / 1e9}

        return Contender(f"fp32 {shape} {library}", go)

    out = []
    if torch.backends.mkldnn.is_available():
        a_dnn, w_dnn = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
        out.append(contender("oneDNN", lambda: torch._C._nn.mkldnn_linear(a_dnn, w_dnn, None)))
    a_np, b_np = a.numpy(), b.numpy()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        def openblas() -> None:
            with threadpool_limits(limits=threads, user_api="blas"):  # numpy's OpenBLAS, this call only
                np.matmul(a_np, b_np)

        out.append(contender("OpenBLAS", openblas))
    with contextlib.suppress(ImportError):
        session = _ort_matmul(m, k, n, threads)
        out.append(contender("MLAS", lambda: session.run(None, {"a": a_np, "b": b_np})))
    return out


def _ort_matmul(m: int, k: int, n: int, threads: int) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def peak(stats_by_name: dict, dtype: str = "bf16") -> float:
    """The best GFLOP/s among ``dtype`` contenders."""
    return max(
        s.rate("gflop")
        for name, s in stats_by_name.items()
        if name.startswith(dtype + " ") and name in _TORCH
    )


_TORCH: set[str] = {f"{d} {s}" for s in SHAPES for d in ("fp32", "bf16")}  # torch.mm contenders


def run(*, quick: bool, threads: int) -> BenchResult:
    shapes = ["1024²", "ffn 4096×384×1536"] if quick else list(SHAPES)
    import torch

    from finehub.nn.device import bf16_supported

    # without native bf16, torch's bf16 matmul is a scalar fallback (~1 GFLOP/s): nobody's peak
    dtypes = ("fp32", "bf16") if bf16_supported(torch.device("cpu")) else ("fp32",)
    ffn = "ffn 4096×384×1536"
    libraries = library_contenders(ffn, threads)
    contenders = [matmul_contender(s, d) for s in shapes for d in dtypes] + libraries
    repeats = 5 if quick else 9
    stats = alternate(contenders, repeats=repeats, warmup=1)
    by = {s.name: s for s in stats}
    figures = [
        ratio(stats, f"bf16 {s}", f"fp32 {s}", unit="gflop", name=f"bf16 / fp32 {s}")
        for s in shapes
        if "bf16" in dtypes
    ]
    figures += [
        ratio(
            stats, c.name, f"fp32 {ffn}", unit="gflop", name=f"{c.name.rpartition(' ')[2]} / torch (MKL) fp32"
        )
        for c in libraries
    ]
    figures += [Figure(f"{d} peak", peak(by, d), "GFLOP/s") for d in dtypes]
    return BenchResult(
        "matmul",
        f"Matmul GFLOP/s on {threads} threads",
        stats,
        figures,
        notes=[] if "bf16" in dtypes else ["no native bf16 on this CPU: bf16 matmuls left out"],
        params={"repeats": repeats, "flop_per_rep": FLOP_PER_REP, "shapes": {s: SHAPES[s] for s in shapes}},
        rate_unit="gflop",
    )
