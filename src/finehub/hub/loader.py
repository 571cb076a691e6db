"""Resolving a module name to a loaded module: ``finehub.Module("minilm-l6")``.

Sources, tried in order (the first that has a version satisfying the constraint wins, and within
a source the highest such version):

1. ``entrypoint`` — installed distributions exposing entry points in group ``finehub.modules``
   (the built-ins register the same way, so third-party packages are first-class);
2. ``local`` — folder modules installed in ``FINEHUB_HOME/modules/<name>/<version>/``;
3. ``index`` — the bundled index and the configured one (archives are installed into the store
   first; ``hf://`` versions are fetched through huggingface_hub);
4. ``hf`` — a name written ``hf://org/repo[@revision]``.

A folder path (containing ``module.json``) or an archive path also loads directly.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from finehub import __version__
from finehub.errors import (
    DuplicateModuleError,
    FinehubError,
    IncompatibleModuleError,
    InvalidManifestError,
    ModuleNotFoundInHubError,
    OfflineError,
)
from finehub.hub import index as index_mod
from finehub.hub import store
from finehub.hub.module import ModuleBase, ModuleInfo

log = logging.getLogger(__name__)

SourceName = Literal["entrypoint", "local", "index", "hf"]
SOURCES: tuple[SourceName, ...] = ("entrypoint", "local", "index", "hf")
ENTRY_POINT_GROUP = "finehub.modules"
DEFAULT_HF_ENTRY = "finehub.modules.text_encoder:TextEncoder"


@dataclass(frozen=True)
class Candidate:
    """One version of a module some source can provide."""

    name: str
    version: str
    source: SourceName
    finehub: str = ""
    summary: str = ""
    task: str = ""
    tags: tuple[str, ...] = ()
    origin: str = ""  # distribution, folder, index URL or hf:// reference
    entry_point: Any = None
    folder: Path | None = None
    index_entry: index_mod.IndexVersion | None = None


def Module(  # noqa: N802 - PaddleHub's spelling: hub.Module(name=...)
    name: str,
    version: str | None = None,
    *,
    source: SourceName | None = None,
    allow_pickle: bool = False,
    **init_args: Any,
) -> ModuleBase:
    """Resolve, verify and instantiate a module.

    ``name`` may carry a constraint (``"minilm-l6==1.0.0"``, ``"x>=1,<2"``), be a folder or archive
    path, or an ``hf://org/repo@rev`` reference. ``version`` is an exact version or a specifier.
    ``init_args`` go to the module's constructor.
    """
    path = Path(name).expanduser()
    if ("/" in name or name.startswith(".")) and path.exists() and "://" not in name:
        return _load_path(path, allow_pickle=allow_pickle, init_args=init_args)
    if name.startswith("hf://"):
        return _load_hf(name, DEFAULT_HF_ENTRY, {}, init_args)
    base, spec = split_requirement(name, version)
    candidate = resolve(base, spec, source=source)
    return load_candidate(candidate, allow_pickle=allow_pickle, init_args=init_args)


def split_requirement(name: str, version: str | None = None) -> tuple[str, str]:
    """``"x==1.0"`` -> ("x", "==1.0"); a bare ``version`` "1.0" becomes "==1.0"."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    cut = next((i for i, c in enumerate(name) if c in "=<>!~"), len(name))
    base, spec = name[:cut].strip(), name[cut:].strip()
    if version:
        if spec:
            raise FinehubError(f"Give the version either in the name ({name!r}) or as version=, not both.")
        spec = version if version[0] in "=<>!~" else f"=={version}"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as e:
        raise FinehubError(f"{spec!r} is not a version constraint (examples: ==1.0.0, >=1.0,<2).") from e
    return base, spec


def resolve(name: str, spec: str = "", *, source: SourceName | None = None) -> Candidate:
    """The best candidate for ``name`` satisfying ``spec``; errors list what was seen and why not."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    specifier = SpecifierSet(spec)
    rejected: list[str] = []
    offline_error: OfflineError | None = None
    for src in (source,) if source else SOURCES:
        try:
            found = list(candidates(name, src))
        except OfflineError as e:
            offline_error = e
            continue
        ok = []
        for cand in found:
            why = _rejection(cand, specifier)
            if why:
                rejected.append(f"{cand.name}=={cand.version} from {cand.source} ({cand.origin}): {why}")
            else:
                ok.append(cand)
        if ok:
            return max(ok, key=lambda c: Version(c.version))
    if offline_error is not None and not rejected:
        raise offline_error
    raise ModuleNotFoundInHubError(
        f"{name}{spec}",
        close_matches=difflib.get_close_matches(name, known_names(), n=5, cutoff=0.5),
        rejected=rejected,
    )


def candidates(name: str, source: SourceName) -> Iterable[Candidate]:
    if source == "entrypoint":
        yield from (c for c in entry_point_candidates() if c.name == name)
    elif source == "local":
        for mod in store.installed(name):
            yield _local_candidate(mod)
    elif source == "index":
        errors: list[OfflineError] = []
        for idx in index_mod.indexes():
            if isinstance(idx, OfflineError):
                errors.append(idx)
                continue
            for entry in idx.find(name):
                yield _index_candidate(entry)
        if errors:
            raise errors[0]


def installed_candidates() -> list[Candidate]:
    """Modules usable without a download: entry points and installed folders."""
    return [*entry_point_candidates(), *(_local_candidate(m) for m in store.installed())]


def all_candidates(*, remote: bool = True) -> list[Candidate]:
    """Everything known: installed modules and index entries (for search)."""
    out = installed_candidates()
    for idx in index_mod.indexes(remote=remote):
        if not isinstance(idx, OfflineError):
            out += [_index_candidate(e) for e in idx.versions]
    return out


def known_names() -> list[str]:
    return sorted({c.name for c in all_candidates(remote=False)})


@cache
def entry_point_candidates() -> tuple[Candidate, ...]:
    """Modules registered through entry points; a name claimed twice is an error."""
    from importlib.metadata import entry_points

    seen: dict[str, Candidate] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
        if ep.name in seen:
            if seen[ep.name].entry_point.value == ep.value:
                continue  # the same distribution seen twice on sys.path
            raise DuplicateModuleError(ep.name, seen[ep.name].origin, dist)
        info = _entry_point_info(ep)
        seen[ep.name] = Candidate(
            name=ep.name,
            version=info.version if info else "0",
            source="entrypoint",
            finehub=info.finehub if info else "",
            summary=info.summary if info else "",
            task=info.task if info else "",
            tags=info.tags if info else (),
            origin=dist,
            entry_point=ep,
        )
    return tuple(seen.values())


def load_candidate(
    cand: Candidate, *, allow_pickle: bool = False, init_args: dict[str, Any] | None = None
) -> ModuleBase:
    init_args = dict(init_args or {})
    if cand.source == "entrypoint":
        cls = _checked_class(cand.entry_point.load(), cand.name, str(cand.entry_point.value))
        return cls(directory=None, **init_args)
    if cand.source == "local":
        assert cand.folder is not None
        return _load_folder(cand.folder, allow_pickle=allow_pickle, init_args=init_args)
    entry = cand.index_entry
    assert entry is not None
    if entry.source:
        return _load_hf(
            entry.source,
            entry.entry or DEFAULT_HF_ENTRY,
            entry.config,
            init_args,
            name=entry.name,
            version=entry.version,
        )
    installed = store.install_from_index(entry, allow_pickle=allow_pickle)
    return _load_folder(installed.path, allow_pickle=allow_pickle, init_args=init_args)


def load_class(entry: str, *, folder: Path | None = None, where: str = "module.json") -> type[ModuleBase]:
    """Import ``"pkg.mod:Class"``, or ``"module.py:Class"`` from a folder module's own code."""
    target, sep, attr = entry.partition(":")
    if not sep or not attr:
        raise InvalidManifestError(
            where, f"entry {entry!r} must look like 'package.module:Class' or 'module.py:Class'"
        )
    if target.endswith(".py"):
        if folder is None:
            raise InvalidManifestError(where, f"entry {entry!r} names a file, but the module has no folder")
        file = (folder / target).resolve()
        if not file.is_relative_to(folder.resolve()) or not file.is_file():
            raise InvalidManifestError(
                where, f"entry file {target!r} is missing or outside the module folder"
            )
        mod_name = f"finehub_ext_{abs(hash(str(file)))}"
        spec = importlib.util.spec_from_file_location(mod_name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise InvalidManifestError(where, f"cannot import {target!r} for entry {entry!r}: {e}") from e
    try:
        cls = getattr(module, attr)
    except AttributeError as e:
        raise InvalidManifestError(where, f"{target!r} has no attribute {attr!r}") from e
    return _checked_class(cls, entry, where)


def _load_path(path: Path, *, allow_pickle: bool, init_args: dict[str, Any]) -> ModuleBase:
    if path.is_dir():
        info = store.read_manifest(path)
        _check_compatible(info.name, info.version, info.finehub)
        return _load_folder(path, allow_pickle=allow_pickle, init_args=init_args, info=info)
    installed = store.install_archive(path, allow_pickle=allow_pickle)
    return _load_folder(installed.path, allow_pickle=allow_pickle, init_args=init_args)


def _load_folder(
    folder: Path, *, allow_pickle: bool, init_args: dict[str, Any], info: ModuleInfo | None = None
) -> ModuleBase:
    info = info or store.read_manifest(folder)
    store.verify_folder(folder, info, allow_pickle=allow_pickle)
    if not info.entry:
        raise InvalidManifestError(str(folder / store.MANIFEST), "missing 'entry' (the class to load)")
    cls = load_class(info.entry, folder=folder, where=str(folder / store.MANIFEST))
    module = cls(directory=folder, **{**dict(info.config.get("init_args", {})), **init_args})
    module.info = info  # the folder's metadata (name, version) describes this instance
    return module


def _load_hf(
    ref: str,
    entry: str,
    config: dict[str, Any],
    init_args: dict[str, Any],
    *,
    name: str | None = None,
    version: str | None = None,
) -> ModuleBase:
    """``hf://org/repo[@rev]`` -> snapshot folder (honouring the HF cache and HF_HUB_OFFLINE) -> module."""
    repo, _, revision = ref.removeprefix("hf://").partition("@")
    if repo.count("/") != 1:
        raise FinehubError(
            f"{ref!r} is not a Hugging Face reference; write hf://org/repo or hf://org/repo@revision"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from finehub._utils import paths

    try:
        folder = Path(
            snapshot_download(
                repo,
                revision=revision or None,
                local_files_only=paths.offline(),
                etag_timeout=index_mod.TIMEOUT_S,
                allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model", "*.onnx", "*.md"],
            )
        )
    except LocalEntryNotFoundError as e:
        raise OfflineError(
            f"Hugging Face repo {ref}", "not in the local Hugging Face cache and offline, or unreachable"
        ) from e
    except Exception as e:  # huggingface_hub raises many network/HTTP types; translate them once here
        if type(e).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")):
            raise OfflineError(f"Hugging Face repo {ref}", f"{type(e).__name__}: {e}") from e
        raise
    cls = load_class(entry, where=ref)
    module = cls(directory=folder, **{**config, **init_args})
    module.info = ModuleInfo(
        name=name or repo.split("/")[1],
        version=version or "0",
        summary=cls.info.summary,
        task=cls.info.task,
        entry=entry,
        config=config,
    )
    return module


def _checked_class(obj: Any, name: str, where: str) -> type[ModuleBase]:
    if not (
        isinstance(obj, type)
        and issubclass(obj, ModuleBase)
        and isinstance(getattr(obj, "info", None), ModuleInfo)
    ):
        raise InvalidManifestError(where, f"{name!r} is not a ModuleBase subclass decorated with @moduleinfo")
    return obj


def _entry_point_info(ep: Any) -> ModuleInfo | None:
    try:
        return _checked_class(ep.load(), ep.name, ep.value).info
    except Exception as e:  # a broken third-party package must not break listing the others
        log.warning("Module %r from entry point %s cannot be loaded: %s", ep.name, ep.value, e)
        return None


def _local_candidate(mod: store.InstalledModule) -> Candidate:
    i = mod.info
    return Candidate(
        i.name, i.version, "local", i.finehub, i.summary, i.task, i.tags, str(mod.path), folder=mod.path
    )


def _index_candidate(e: index_mod.IndexVersion) -> Candidate:
    origin = e.source or e.url or e.index
    return Candidate(e.name, e.version, "index", e.finehub, e.summary, e.task, e.tags, origin, index_entry=e)


def _rejection(cand: Candidate, specifier: Any) -> str:
    """Why a candidate cannot be used, or '' when it can."""
    if cand.source == "entrypoint" and cand.version == "0":
        return "its entry point fails to load (see the warning above)"
    if specifier and not specifier.contains(cand.version, prereleases=True):
        return f"does not satisfy {specifier}"
    try:
        _check_compatible(cand.name, cand.version, cand.finehub)
    except IncompatibleModuleError as e:
        return f"needs finehub{e.required} (this is {e.installed})"
    return ""


def _check_compatible(name: str, version: str, required: str) -> None:
    from packaging.specifiers import SpecifierSet

    if required and not SpecifierSet(required).contains(__version__, prereleases=True):
        raise IncompatibleModuleError(name, version, required, __version__)
