"""The ``finehub`` command. Each command group lives in its own file and registers itself here."""

from __future__ import annotations

import logging
import sys

import typer

from finehub.cli import assets as assets_cli
from finehub.cli import autotune as autotune_cli
from finehub.cli import bench as bench_cli
from finehub.cli import export as export_cli
from finehub.cli import finetune as finetune_cli
from finehub.cli import modules as modules_cli
from finehub.cli import serve as serve_cli

app = typer.Typer(
    name="finehub",
    help="Pretrained models in one line, fine-tuning in ten: modules, fine-tuning, autotune, serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

modules_cli.register(app)
finetune_cli.register(app)
serve_cli.register(app)
autotune_cli.register(app)
export_cli.register(app)
bench_cli.register(app)
assets_cli.register(app)


def main() -> None:
    """Console-script entry: finehub errors become one clear line on stderr and exit code 1."""
    from finehub.errors import FinehubError

    _configure_logging()
    try:
        app()
    except FinehubError as e:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, markup=True)
        sys.exit(1)


def _configure_logging() -> None:
    import os

    from finehub.errors import ConfigError
    from finehub.hub import settings

    try:
        level = os.environ.get("FINEHUB_LOG_LEVEL") or settings.read().get("log_level") or "WARNING"
    except ConfigError:  # a broken config file is reported by `finehub config`, not at every start
        level = "WARNING"
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    main()
