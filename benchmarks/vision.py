"""`python benchmarks/vision.py [--quick] [--threads N] [--out DIR]`: images/s of the vision modules.

For each module, at batch 1 and batch 8: the PyTorch network alone, the same network exported to
ONNX and run by onnxruntime, and the whole module call (decoding, resizing, NMS, mapping back
included) on real photos. Contenders alternate (warm-up, then A B A B ...) and the figures are
medians. OMP_WAIT_POLICY defaults to PASSIVE here (see below). MoveNet's graph has its batch size of
1 built in, so its "batch 8" is eight single calls.
"""

from __future__ import annotations

import os

# libgomp's default busy-waiting collapses PyTorch's 2-thread speed (about 25× on this 2-core machine
# shared with other work); passive waiting must be chosen before torch starts its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from finehub.bench.harness import (  # noqa: E402
    BenchResult,
    Contender,
    Figure,
    alternate,
    machine_info,
    now_iso,
    results_folder,
    write_json,
)

MODULES = {  # name: (input shape of one image, dtype, whether the graph takes a batch)
    "object-detection-nanodet": ((3, 416, 416), "float32", True),
    "human-segmentation": ((256, 256, 3), "float32", True),
    "pose-movenet": ((192, 192, 3), "int32", False),
}
TARGET = 1 / 1.5  # PyTorch images/s at least 1/1.5 of onnxruntime's


def _photos(n: int) -> list[Any]:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.stereo_motorcycle()[0], data.rocket()]
    return [photos[i % len(photos)] for i in range(n)]


def _contenders(name: str, module: Any, folder: Path, threads: int) -> list[Contender]:
    import numpy as np
    import onnxruntime as ort
    import torch

    shape, dtype, batched = MODULES[name]
    rng = np.random.default_rng(0)
    x1 = torch.from_numpy((rng.random((1, *shape)) * (255 if dtype == "int32" else 1)).astype(dtype))
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.net,
            (x1,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            dynamic_axes={"x": {0: "n"}} if batched else None,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    method = getattr(module, module.runnable_method()[0])
    out = []
    for n in (1, 8):
        xs = [torch.cat([x1] * n)] if batched else [x1] * n
        if name == "object-detection-nanodet":  # as the module feeds it
            xs = [x.contiguous(memory_format=torch.channels_last) for x in xs]
        arrays = [x.numpy() for x in xs]
        photos = _photos(n)

        def torch_run(xs: list[Any] = xs, n: int = n) -> dict[str, float]:
            with torch.inference_mode():
                for x in xs:
                    module.net(x)
            return {"images": n}

        def ort_run(arrays: list[Any] = arrays, n: int = n) -> dict[str, float]:
            for a in arrays:
                session.run(None, {"x": a})
            return {"images": n}

        def module_run(photos: list[Any] = photos, n: int = n) -> dict[str, float]:
            method(images=photos)
            return {"images": n}

        out += [
            Contender(f"{name} b{n} torch", torch_run, "network only"),
            Contender(f"{name} b{n} onnxruntime", ort_run, "the same network exported to ONNX"),
            Contender(f"{name} b{n} module", module_run, "the whole call on photos, PyTorch"),
        ]
    return out


def run(*, quick: bool, threads: int) -> BenchResult:
    import torch

    import finehub as hub

    torch.set_num_threads(threads)
    stats, figures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODULES:
            group = alternate(
                _contenders(name, hub.Module(name), Path(tmp), threads), repeats=3 if quick else 7, warmup=1
            )
            by = {s.name: s for s in group}
            for n in (1, 8):
                ours, ref = by[f"{name} b{n} torch"], by[f"{name} b{n} onnxruntime"]
                value = ours.rate("images") / ref.rate("images")
                figures.append(Figure(f"{name} b{n}: torch / onnxruntime images/s", value, "x", TARGET))
            stats += group
    return BenchResult(
        "vision",
        "Vision modules: images/s, PyTorch vs onnxruntime on the same graph",
        stats,
        figures,
        params={"quick": quick, "threads": threads},
        machine=machine_info(threads),
        date=now_iso(),
        rate_unit="images",
    )


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console

    from finehub.bench.harness import render_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=results_folder())
    args = parser.parse_args(argv)
    result = run(quick=args.quick, threads=args.threads)
    console = Console()
    for table in render_table(result):
        console.print(table)
    console.print(f"written to {write_json(result, args.out)}")


if __name__ == "__main__":
    main()
