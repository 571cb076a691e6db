"""`finehub serve`: PaddleHub-compatible HTTP serving; `finehub serve stop --port P` ends it.

PaddleHub's spelling works too: `finehub serving start -m A -m B [-p PORT] [--config serving.json]`
and `finehub serving stop -p PORT` are the same two commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModulesOption = Annotated[
    list[str] | None, typer.Option("--module", "-m", help="NAME or NAME==VERSION; repeat for several")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="serving.json (PaddleHub's format plus limits)")
]
HostOption = Annotated[str | None, typer.Option(help="address to bind [default: 127.0.0.1]")]
PortOption = Annotated[int | None, typer.Option("--port", "-p", help="port [default: 8866]")]
WorkersOption = Annotated[
    int | None, typer.Option(help="worker processes, each loading every module [default: 1]")
]

serve_app = typer.Typer(
    help="Serve modules over HTTP: POST /predict/<module>, typed routes, /docs, /metrics, a try-it page at /.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    module: ModulesOption = None,
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
) -> None:
    """Serve modules until Ctrl-C or `finehub serve stop --port P`. Flags override the config file."""
    if ctx.invoked_subcommand is not None:
        return
    _start(module, config, host, port, workers)


def _start(
    module: list[str] | None, config: Path | None, host: str | None, port: int | None, workers: int | None
) -> None:
    from rich.console import Console

    from finehub.serving.config import ServingConfig
    from finehub.serving.server import check_modules
    from finehub.serving.server import serve as run_server

    cfg = ServingConfig.from_file(config) if config is not None else ServingConfig()
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    cfg = ServingConfig.parse({**cfg.model_dump(), **overrides}, where="command line").with_modules(
        module or []
    )
    check_modules(cfg)
    names = ", ".join(cfg.modules_info)
    Console(stderr=True).print(
        f"Serving {names} on http://{cfg.host}:{cfg.port} ({cfg.workers} worker(s)); "
        f"try-it page at /, API docs at /docs. Stop with Ctrl-C or `finehub serve stop --port {cfg.port}`.",
        highlight=False,
    )
    run_server(cfg)


@serve_app.command("stop")
def stop(
    port: Annotated[int, typer.Option("--port", "-p", help="port of the server to stop")] = 8866,
    timeout: Annotated[float, typer.Option(help="seconds to wait for in-flight requests")] = 60.0,
) -> None:
    """Stop the server on PORT gracefully (SIGTERM; in-flight requests finish)."""
    from rich.console import Console

    from finehub.serving.server import stop as stop_server

    pid = stop_server(port, timeout=timeout)
    Console().print(f"Stopped the finehub server on port {port} (pid {pid}).", highlight=False)


serving_app = typer.Typer(
    help="PaddleHub's `hub serving`: `serving start` is `finehub serve`, `serving stop` is `finehub serve stop`.",
    no_args_is_help=True,
)


serving_app.command(
    "start", help="Serve modules until Ctrl-C or `finehub serving stop -p PORT` (same as `finehub serve`)."
)(serve)


serving_app.command("stop")(stop)


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")
    app.add_typer(serving_app, name="serving")
