"""``finehub finetune CONFIG.yaml``: the ten-line fine-tuning, as a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="finetune")(finetune)


def finetune(
    config: Annotated[
        Path, typer.Argument(help="YAML file with dataset, module, task, strategy, config, export sections.")
    ],
    checkpoint_dir: Annotated[
        str | None, typer.Option(help="Run folder (overrides config.checkpoint_dir).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many steps (overrides config.max_steps).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Fine-tune a module as CONFIG describes: dev evaluation, best model, checkpoints (a rerun
    resumes), curves and report in the run folder; exports the best model when the file asks."""
    from rich.console import Console
    from rich.table import Table

    from finehub.finetune.callbacks import scalars
    from finehub.finetune.distributed import from_env
    from finehub.finetune.yaml_config import load_job

    overrides: dict[str, object] = {"progress": progress}
    if checkpoint_dir is not None:
        overrides["checkpoint_dir"] = checkpoint_dir
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    _, result, exported = load_job(config, overrides).run()
    if not from_env().is_main:  # under torchrun, rank 0 reports for all
        return

    table = Table(title=f"fine-tuned: {result.run_dir}")
    table.add_column("metric")
    table.add_column(f"dev (best, step {result.best_step})")
    table.add_column("test (best model)")
    dev, test = scalars(result.best_dev_metrics), scalars(result.test_metrics)
    for name in dict.fromkeys([*dev, *test]):
        table.add_row(name, *(f"{m[name]:.4f}" if name in m else "-" for m in (dev, test)))
    console = Console()
    console.print(table)
    console.print(
        f"{result.steps} steps in {result.train_seconds:.1f} s ({result.train_samples_per_s:.1f} samples/s), "
        f"best model: {result.best_model_dir}"
    )
    if exported is not None:
        console.print(f"exported and installed: {exported}")
