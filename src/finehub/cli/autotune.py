"""``finehub autotune``: PaddleHub's ``hub autofinetune``, with its option names accepted too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finehub.autotune.tuners import TUNERS


def register(app: typer.Typer) -> None:
    app.command(name="autotune", no_args_is_help=True)(autotune)


def autotune(
    script: Annotated[
        Path,
        typer.Argument(
            help="Training script; gets --NAME=VALUE per parameter, --saved_params_dir=DIR and, in later population rounds, --model_path=PARENT_DIR."
        ),
    ],
    param_file: Annotated[
        Path,
        typer.Option(
            "--param-file",
            "--param_file",
            "-p",
            help="Search space YAML (PaddleHub's param_list format).",
            show_default=False,
        ),
    ],
    extra: Annotated[
        list[str] | None,
        typer.Argument(
            help="Arguments after `--`, passed unchanged to every run of the script.", show_default=False
        ),
    ] = None,
    tuner: Annotated[str, typer.Option("--tuner", "--tuning_strategy", help=" | ".join(TUNERS))] = "hazero",
    evaluator: Annotated[
        str,
        typer.Option(
            "--evaluator",
            help="full (every trial from scratch) | population (later rounds start from the best checkpoints).",
        ),
    ] = "full",
    popsize: Annotated[int, typer.Option("--popsize", help="Trials per round.")] = 5,
    rounds: Annotated[int, typer.Option("--rounds", "--round", help="Number of rounds.")] = 10,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Local worker processes sharing the study.")
    ] = 1,
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", "--output_dir", "-o", help="Where trials, the best model and the report go."
        ),
    ] = Path("autotune-output"),
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Study storage: a journal file path (default OUTPUT_DIR/study.journal), sqlite:///PATH or postgresql://USER:PASS@HOST/DB to share a study across machines.",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study", help="Study name; the same name and storage on several machines joins one study."
        ),
    ] = None,
    direction: Annotated[
        str, typer.Option("--direction", help="maximize | minimize the reported metric.")
    ] = "maximize",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    epochs_per_round: Annotated[
        int | None, typer.Option("--epochs-per-round", help="Passed to the script as --epochs=N.")
    ] = None,
    trial_timeout: Annotated[
        float | None,
        typer.Option("--trial-timeout", help="Seconds before a run of the script is stopped and failed."),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            "--gpus",
            "--gpu",
            help="Comma-separated devices handed to the workers round-robin as CUDA_VISIBLE_DEVICES.",
        ),
    ] = None,
) -> None:
    """Search hyper-parameters by running SCRIPT once per trial, round after round.

    Killed? Run the same command again: finished trials are kept, interrupted ones re-run.
    """
    import logging

    from rich.console import Console

    from finehub.autotune.runner import tune

    console = Console(soft_wrap=True)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log = logging.getLogger("finehub.autotune")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("optuna").setLevel(logging.WARNING)
    try:
        result = tune(
            str(script),
            param_file,
            tuner=tuner,
            evaluator=evaluator,
            popsize=popsize,
            rounds=rounds,
            workers=workers,
            output_dir=output_dir,
            storage=storage,
            study_name=study,
            direction=direction,
            seed=seed,
            script_args=extra or (),
            epochs_per_round=epochs_per_round,
            trial_timeout=trial_timeout,
            devices=[g.strip() for g in gpus.split(",") if g.strip()] if gpus else (),
        )
    finally:
        log.removeHandler(handler)
    complete = sum(t.state == "COMPLETE" for t in result.trials)
    console.print(f"[bold]{complete}[/] of {len(result.trials)} trials complete.", highlight=False)
    if result.best_value is None:
        console.print(
            "[red]No trial completed[/]; see the logs under " + str(Path(output_dir) / "trials"),
            highlight=False,
        )
        raise typer.Exit(1)
    params = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    console.print(f"Best value [bold green]{result.best_value:.6g}[/] with {params}", highlight=False)
    console.print(f"Best trial: {result.best_trial_dir}", highlight=False)
    if result.best_model_dir:
        console.print(f"Best model: {result.best_model_dir}", highlight=False)
    console.print(f"Report:     {Path(output_dir) / 'report.md'}", highlight=False)
    console.print(f"Dashboard:  optuna-dashboard {result.storage}", highlight=False)
