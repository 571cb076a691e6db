"""Module commands: list, search, show, install, uninstall, download, pack, run, clear, config, version, doctor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    for fn in (list_, search, show, install, uninstall, download, pack, run, clear, config, version, doctor):
        app.command(name=fn.__name__.rstrip("_"))(fn)


def _console():
    from rich.console import Console

    return Console()


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable))


def _jsonable(obj: Any) -> Any:
    """numpy arrays/scalars and paths in module results become JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _rows(cands: list, query: str | None = None) -> list[dict[str, Any]]:
    """One row per module name: highest version per source, sources merged."""
    from packaging.version import Version

    rows: dict[str, dict[str, Any]] = {}
    for c in cands:
        row = rows.setdefault(
            c.name,
            {"name": c.name, "versions": {}, "task": c.task, "summary": c.summary, "tags": list(c.tags)},
        )
        prev = row["versions"].get(c.source)
        if prev is None or Version(c.version) > Version(prev):
            row["versions"][c.source] = c.version
        row["task"] = row["task"] or c.task
        row["summary"] = row["summary"] or c.summary
    out = sorted(rows.values(), key=lambda r: r["name"])
    if query:
        q = query.lower()
        out = [r for r in out if q in " ".join([r["name"], r["summary"], r["task"], *r["tags"]]).lower()]
    return out


def _table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("name", "version", "source", "task", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        src = ", ".join(r["versions"])
        ver = ", ".join(sorted(set(r["versions"].values())))
        table.add_row(r["name"], ver, src, r["task"], r["summary"])
    _console().print(table)


def list_(as_json: JsonFlag = False) -> None:
    """List installed modules (built-in packages, third-party packages, installed folders)."""
    from finehub.hub import loader

    rows = _rows(loader.installed_candidates())
    _print_json(rows) if as_json else _table(rows, "Installed modules")


def search(
    word: Annotated[str, typer.Argument(help="Matched against name, summary, task and tags.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Search installed modules and the module indexes."""
    from finehub.hub import loader

    rows = _rows(loader.all_candidates(), word)
    _print_json(rows) if as_json else _table(rows, f"Modules matching {word!r}")


def show(name: str, as_json: JsonFlag = False) -> None:
    """Show a module's metadata, methods and where it comes from."""
    from finehub.hub import loader

    base, spec = loader.split_requirement(name)
    cand = loader.resolve(base, spec)
    data: dict[str, Any] = {
        "name": cand.name,
        "version": cand.version,
        "source": cand.source,
        "origin": cand.origin,
    }
    if cand.source == "entrypoint":
        cls = cand.entry_point.load()
        data.update(cls.info.to_dict())
        data["methods"] = _methods(cls)
    elif cand.source == "local":
        from finehub.hub import store

        data.update(store.read_manifest(cand.folder).to_dict())
        data["path"] = str(cand.folder)
    else:
        e = cand.index_entry
        data.update(
            {
                "summary": e.summary,
                "task": e.task,
                "tags": list(e.tags),
                "finehub": e.finehub,
                "url": e.url,
                "sha256": e.sha256,
                "hf_source": e.source,
                "entry": e.entry,
            }
        )
    data = {k: v for k, v in data.items() if v not in ("", [], {}, None)}
    if as_json:
        _print_json(data)
        return
    from rich.pretty import Pretty

    _console().print(Pretty(data, expand_all=True))


def _methods(cls: Any) -> dict[str, Any]:
    import inspect

    runnable, _ = cls.runnable_method()
    out = {}
    for name, spec in cls.serving_methods().items():
        out[name] = {
            "signature": str(inspect.signature(getattr(cls, name))),
            "batch": spec.batch,
            "runnable": name == runnable,
        }
    if runnable not in out:
        out[runnable] = {"signature": str(inspect.signature(getattr(cls, runnable))), "runnable": True}
    return out


def install(
    target: Annotated[
        str, typer.Argument(help="NAME[==VERSION] from an index, a module folder, or an archive.")
    ],
    force: Annotated[bool, typer.Option(help="Reinstall even if that version is installed.")] = False,
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Accept pickle weight files (can run code!).")
    ] = False,
) -> None:
    """Install a module into FINEHUB_HOME (verified, atomic)."""
    from finehub.hub import loader, store

    path = Path(target).expanduser()
    if path.is_dir():
        mod = store.install_folder(path, allow_pickle=allow_pickle, force=force)
    elif path.is_file():
        mod = store.install_archive(path, allow_pickle=allow_pickle, force=force)
    else:
        base, spec = loader.split_requirement(target)
        cand = loader.resolve(base, spec, source="index")
        if cand.index_entry is None or not cand.index_entry.url:
            typer.echo(
                f"{cand.name}=={cand.version} comes from {cand.origin}; it is fetched on first use "
                f"(finehub.Module({cand.name!r})) or with `finehub download {cand.name}`."
            )
            return
        mod = store.install_from_index(cand.index_entry, allow_pickle=allow_pickle, force=force)
    typer.echo(f"Installed {mod.info.name}=={mod.info.version} at {mod.path}")


def uninstall(name: str) -> None:
    """Remove an installed folder module (all versions, or NAME==VERSION)."""
    from finehub.hub import loader, store

    base, spec = loader.split_requirement(name)
    if not store.installed(base) and any(c.name == base for c in loader.entry_point_candidates()):
        cand = next(c for c in loader.entry_point_candidates() if c.name == base)
        raise typer.BadParameter(
            f"{base} comes from the installed package {cand.origin}; remove it with pip uninstall."
        )
    version = spec.removeprefix("==") if spec.startswith("==") else None
    for path in store.uninstall(base, version):
        typer.echo(f"Removed {path}")


def download(
    name: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")] = Path("."),
) -> None:
    """Download a module's archive (or Hugging Face snapshot) without installing it."""
    import shutil

    from finehub.hub import loader, store

    base, spec = loader.split_requirement(name)
    cand = loader.resolve(base, spec, source="index")
    entry = cand.index_entry
    output.mkdir(parents=True, exist_ok=True)
    if entry.url:
        archive = store.download_archive(entry)
        dest = output / f"{entry.name}-{entry.version}{store.archive_suffix(entry.url)}"
        shutil.copyfile(archive, dest)
    else:
        from huggingface_hub import snapshot_download

        repo, _, rev = entry.source.removeprefix("hf://").partition("@")
        dest = Path(
            snapshot_download(
                repo,
                revision=rev or None,
                local_dir=output / entry.name,
                allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"],
            )
        )
    typer.echo(f"Downloaded {entry.name}=={entry.version} to {dest}")


def pack(
    folder: Path,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the archive.")] = Path("."),
) -> None:
    """Pack a module folder into NAME-VERSION.tar.gz and print its index entry."""
    from finehub.hub import store

    archive, entry = store.pack(folder, output)
    typer.echo(f"Wrote {archive}")
    _print_json(entry)


def run(
    name: str,
    input_text: Annotated[
        list[str] | None,
        typer.Option("--input-text", "--input_text", help="A text input (repeatable).", show_default=False),
    ] = None,
    input_path: Annotated[
        list[Path] | None,
        typer.Option(
            "--input-path",
            "--input_path",
            help="A file input, e.g. an image (repeatable).",
            show_default=False,
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input-file", "--input_file", help="A file with one text input per line."),
    ] = None,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="KEY=VALUE passed to the method (JSON values accepted).")
    ] = None,
    use_gpu: Annotated[
        str | None,
        typer.Option(
            "--use_gpu",
            "--use-gpu",
            metavar="BOOL",
            help="PaddleHub's switch (True/False): run on the GPU when there is one.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch_size", "--batch-size", help="Inputs run together.", show_default=False),
    ] = None,
    visualization: Annotated[
        str | None,
        typer.Option(
            "--visualization",
            metavar="BOOL",
            help="True: also save the results drawn on each image (image modules).",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output_dir", "--output-dir", help="Folder for --visualization's images.", show_default=False
        ),
    ] = None,
) -> None:
    """Run a module's runnable method on inputs and print the result as JSON.

    PaddleHub's `hub run` spellings work too: --input_path, --input_text, --use_gpu, --batch_size,
    --visualization, --output_dir (passed on to methods that take them)."""
    import finehub

    inputs: list[Any] = list(input_text or []) + [str(p) for p in input_path or []]
    if input_file:
        inputs += [
            line.strip() for line in input_file.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    if not inputs:
        raise typer.BadParameter("give at least one --input-text, --input-path or --input-file")
    import inspect

    from finehub.errors import ModuleInputError

    module = finehub.Module(name)
    method, param = module.runnable_method()
    func = getattr(module, method)
    accepted = [p for p in inspect.signature(func).parameters if p != param]
    common = {
        "use_gpu": _bool_option("--use_gpu", use_gpu),
        "batch_size": batch_size,
        "visualization": _bool_option("--visualization", visualization),
        "output_dir": output_dir,
    }
    kwargs = {k: str(v) if isinstance(v, Path) else v for k, v in common.items() if v is not None}
    kwargs.update(_parse_kv(a) for a in arg or [])
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ModuleInputError(
            "--arg" if set(unknown) - set(common) else f"--{unknown[0]}",
            f"{module.name}.{method} has no parameter {', '.join(unknown)}; it accepts: {', '.join(accepted)}",
        )
    _print_json(func(**{param: inputs}, **kwargs))


def _bool_option(flag: str, value: str | None) -> bool | None:
    """PaddleHub's boolean options take a value: ``--use_gpu True``."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise typer.BadParameter(f"{flag} takes True or False, got {value!r}")
    return lowered in ("true", "1")


def _parse_kv(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep:
        raise typer.BadParameter(f"--arg {item!r} must be KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def clear() -> None:
    """Delete cached downloads and converted weights (installed modules are kept)."""
    import shutil

    from finehub._utils import paths

    for folder in (paths.cache_dir(), paths.converted_dir()):
        if folder.exists():
            shutil.rmtree(folder)
            typer.echo(f"Removed {folder}")


def config(
    action: Annotated[str, typer.Argument(help="show | set | unset")] = "show",
    key: Annotated[str | None, typer.Argument()] = None,
    value: Annotated[str | None, typer.Argument()] = None,
) -> None:
    """Show or change settings: index_url, log_level, and the download and archive limits
    (index_max_bytes, index_timeout, download_max_bytes, download_timeout, archive_max_bytes,
    archive_max_files, archive_max_ratio). FINEHUB_HOME is set through the environment."""
    from finehub._utils import paths
    from finehub.hub import index, settings

    if action == "set":
        if not key or value is None:
            raise typer.BadParameter("usage: finehub config set KEY VALUE")
        settings.set_value(key, value)
    elif action == "unset":
        if not key:
            raise typer.BadParameter("usage: finehub config unset KEY")
        settings.set_value(key, None)
    elif action != "show":
        raise typer.BadParameter(f"unknown action {action!r}; use show, set or unset")
    data = {
        "home": str(paths.home()),
        "offline": paths.offline(),
        "index_url": index.configured_index_url(),
        **{k: v for k, v in settings.read().items() if k != "index_url"},
        **{k: settings.limit(k) for k in settings.LIMITS},  # in effect, wherever each comes from
    }
    _print_json(data)


def version() -> None:
    """Print finehub's version."""
    import finehub

    typer.echo(finehub.__version__)


def doctor() -> None:
    """Check each built-in module's requirements and whether the module index is reachable."""
    from rich.table import Table

    from finehub.errors import OfflineError
    from finehub.hub import doctor as doc
    from finehub.hub import index

    table = Table(title="Modules")
    for col in ("module", "status", "missing"):
        table.add_column(col)
    for name, missing in doc.module_requirements():
        table.add_row(name, "[green]ok[/]" if not missing else "[red]not ready[/]", ", ".join(missing))
    console = _console()
    console.print(table)
    url = index.configured_index_url()
    if not url:
        console.print("Module index: bundled only (set one with `finehub config set index_url URL`).")
        return
    try:
        n = len(index.fetch_index(url).names())
        console.print(f"Module index {url}: [green]reachable[/], {n} modules.")
    except OfflineError as e:
        console.print(f"Module index {url}: [red]unreachable[/] ({e.reason}).")
