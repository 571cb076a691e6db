"""`finehub bench [NAME|all] [--quick]`: reproducible speed figures, as tables and JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="bench")(bench)


def bench(
    name: Annotated[str, typer.Argument(help="A benchmark name (see --list), or all.")] = "all",
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run of about two minutes: fewer repetitions and steps.")
    ] = False,
    threads: Annotated[int, typer.Option("--threads", help="torch threads for every contender.")] = 2,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for <name>.json results [default: benchmarks/results/<cpu kind>]."
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the benchmarks and exit.")] = False,
) -> None:
    """Run benchmarks: contenders alternate (A B A B ...) in one process, figures are ratios between
    them, and each benchmark writes <out>/<name>.json with the machine's details."""
    from rich.console import Console

    from finehub.bench import harness, suite

    console = Console()
    if list_:
        for bm in suite.BENCHMARKS:
            console.print(f"[bold]{bm.name}[/]  {bm.summary}{'' if bm.in_quick else '  (not in --quick)'}")
        for script in suite.external_scripts():
            console.print(f"[bold]{script.stem}[/]  {script} (own process, full `all` only)")
        return
    chosen = suite.selected(name, quick=quick)
    out = out or harness.results_folder()
    failed: list[str] = []
    results: list[harness.BenchResult] = []
    for bm in chosen:
        console.rule(f"[bold]{bm.name}[/]: {bm.summary}")
        try:
            result = suite.run(bm, quick=quick, threads=threads)
        except Exception:  # one broken benchmark must not hide the figures of the others
            console.print_exception(max_frames=8)
            failed.append(bm.name)
            continue
        results.append(result)
        for table in harness.render_table(result):
            console.print(table)
        for note in result.notes:
            console.print(f"[dim]{note}[/]")
        console.print(f"[dim]{_machine_line(result.machine)}; wrote {harness.write_json(result, out)}[/]")
    if name == "all" and not quick:
        for script in suite.external_scripts():
            console.rule(f"[bold]{script.stem}[/]: {script}")
            if suite.run_script(script) != 0:
                failed.append(script.stem)
    if len(results) > 1:
        console.print(_summary(results))
    if failed:
        console.print(f"[bold red]failed:[/] {', '.join(failed)}")
        raise typer.Exit(1)


def _machine_line(machine: dict) -> str:
    flags = ",".join(machine.get("cpu_flags", [])) or "none"
    bf16 = "yes" if machine.get("torch_bf16_cpu") else "no"
    load = machine.get("load_avg_1m") or {}
    return (
        f"{machine.get('cpu')} ({machine.get('cpu_kind')}; flags {flags}; bf16 {bf16}), "
        f"{machine.get('torch_threads')} threads, torch {machine.get('torch')}, "
        f"load {load.get('before')} -> {load.get('after')}"
    )


def _summary(results: list):
    """One table of every figure that has a target, across the benchmarks run."""
    from rich.table import Table

    from finehub.bench.harness import format_value

    table = Table(title="Targets", title_justify="left")
    for col in ("benchmark", "figure", "value", "target", "met"):
        table.add_column(col)
    for result in results:
        for f in result.figures:
            if f.target is not None:
                met = "[green]yes[/]" if f.met else "[red]no[/]"
                target = f"{f.comparison} {format_value(f.target, f.unit)}"
                table.add_row(result.name, f.name, format_value(f.value, f.unit), target, met)
    return table


def main(argv: list[str] | None = None) -> None:
    """Entry for the scripts in benchmarks/: ``main(["embed", "--quick"])``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app(argv)
