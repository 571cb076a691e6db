"""``finehub export onnx RUN_DIR|MODULE``: a fine-tuned model as an ONNX module run by onnxruntime alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Export fine-tuned models for deployment.", no_args_is_help=True)
    group.command(name="onnx")(onnx)
    app.add_typer(group, name="export")


def onnx(
    source: Annotated[
        str,
        typer.Argument(
            help="A run folder (its best_model/), a module folder, or an installed module's name."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder to write (default: RUN/onnx or MODULE-onnx)."),
    ] = None,  # noqa: UP007
    quantize: Annotated[str | None, typer.Option(help="Quantise weights dynamically: int8.")] = None,  # noqa: UP007
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Registered dataset for parity samples and the int8 accuracy check "  # noqa: UP007
            "(default: the one the model was fine-tuned on)."
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Largest accepted |PyTorch - ONNX| difference of raw outputs.")
    ] = 1e-3,
    opset: Annotated[int, typer.Option(help="ONNX opset version.")] = 17,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Export to ONNX, check parity with PyTorch (refused beyond --tolerance), optionally quantise to int8."""
    from dataclasses import asdict

    from finehub.finetune.onnx_export import export_onnx

    result = export_onnx(source, output, quantize=quantize, dataset=dataset, tolerance=tolerance, opset=opset)
    if as_json:
        data = asdict(result)
        if result.quantization is not None:
            data["quantization"]["delta"] = result.quantization.delta
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    from rich.console import Console

    console = Console()
    p = result.parity
    console.print(f"[bold]{result.kind}[/] exported to [cyan]{result.folder}[/]")
    console.print(
        f"parity on {p.samples} inputs: max |PyTorch - ONNX| = {p.max_abs_diff:.2e}, answers agree {p.agreement:.1%}"
    )
    q = result.quantization
    if q is not None:
        size = f"{q.float_bytes / 1e6:.1f} MB -> {q.int8_bytes / 1e6:.1f} MB"
        if q.metric is None:
            console.print(
                f"int8: {size}; answers agree with float on {q.agreement:.1%} (no labelled data for a metric)"
            )
        else:
            console.print(
                f"int8: {size}; dev {q.metric} {q.float_value:.4f} -> {q.int8_value:.4f} "
                f"(delta {q.delta:+.4f}, {q.examples} examples); answers agree {q.agreement:.1%}"
            )
    console.print(f"run it with onnxruntime only: finehub.Module({str(result.folder)!r}).predict(...)")
