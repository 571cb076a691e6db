"""Where modules come from: one small class per source, behind :class:`ModuleSource`.

The sources, by name: ``entrypoint`` (installed distributions, the built-ins included), ``local``
(folders in the store), ``index`` (the bundled and the configured module index), ``hf``
(``hf://org/repo[@revision]``) and ``path`` (a module folder or archive given by path).
:data:`SOURCES` is the order in which a plain name is looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from finehub._version import __version__
from finehub.errors import (
    ConfigError,
    DuplicateModuleError,
    IncompatibleModuleError,
    InvalidManifestError,
    OfflineError,
)
from finehub.hub import index as index_mod
from finehub.hub import store
from finehub.hub.module import ModuleBase, ModuleInfo

log = logging.getLogger(__name__)

SourceName = Literal["entrypoint", "local", "index", "hf", "path"]
SOURCES: tuple[SourceName, ...] = ("entrypoint", "local", "index", "hf")
ENTRY_POINT_GROUP = "finehub.modules"
DEFAULT_HF_ENTRY = "finehub.modules.text_encoder:TextEncoder"


@dataclass(frozen=True)
class Candidate:
    """One version of a module some source can provide; the fields after ``origin`` are what that
    source needs to load it."""

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


class ModuleSource(ABC):
    """A place modules come from.

    Lifecycle: the loader asks each source named in :data:`SOURCES`, in order, for the
    :meth:`candidates` it has under a name. That is metadata only, nothing is downloaded or
    imported. A candidate is dropped, with its reason kept for the not-found error, when
    :meth:`rejection` objects, when its version misses the requested constraint, or when it
    needs another finehub. The first source left with a candidate wins; its highest version goes
    back to the same source's :meth:`load`, which fetches, verifies, imports and instantiates it.
    A name written in a source's own form (a path, ``hf://...``) is one the source
    :meth:`claims`: ``finehub.Module`` hands it to that source alone, with no version choice.
    :meth:`listing` feeds ``finehub list`` and ``search``.

    Sources hold no state of their own; what they find lives in the store, the indexes or the
    Hugging Face cache, so one registered instance serves every caller. To add one, subclass, set
    ``name``, implement the two abstract methods and :func:`register` an instance (a name may be
    registered once); list it in :data:`SOURCES` if plain names should reach it.
    :class:`LocalSource` is the template. Asset sources, such as files inside npm package
    tarballs, are meant to plug into the same registry the same way, unpacking through the store.
    """

    name: ClassVar[str]
    installed: ClassVar[bool] = False  # its modules need no download (what `finehub list` shows)

    @abstractmethod
    def candidates(self, name: str) -> Iterable[Candidate]:
        """The versions of ``name`` this source can provide; raises OfflineError when unreachable."""

    @abstractmethod
    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        """Fetch and verify ``candidate`` as needed, then instantiate it with ``init_args``."""

    def rejection(self, candidate: Candidate) -> str:
        """Why this source cannot use ``candidate``, or '' when it can."""
        return ""

    def claims(self, name: str) -> bool:
        """Whether ``name`` is written in this source's own form."""
        return False

    def listing(self, *, remote: bool) -> Iterable[Candidate]:
        """Every candidate this source knows (``remote=False``: without network access)."""
        return ()


_REGISTRY: dict[str, ModuleSource] = {}


def register(source: ModuleSource) -> ModuleSource:
    """Make ``source`` available under its name; a name registered twice is an error."""
    if source.name in _REGISTRY:
        first = type(_REGISTRY[source.name]).__qualname__
        raise ConfigError(
            f"module source {source.name!r}",
            f"registered twice, by {first} and by {type(source).__qualname__}; give one another name",
        )
    _REGISTRY[source.name] = source
    return source


def get(name: str) -> ModuleSource:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError("source", f"no module source {name!r}; use one of {', '.join(_REGISTRY)}") from None


def registered() -> list[ModuleSource]:
    return list(_REGISTRY.values())


def claiming(name: str) -> ModuleSource | None:
    """The source whose own form ``name`` is written in, if any."""
    return next((s for s in _REGISTRY.values() if s.claims(name)), None)


class LocalSource(ModuleSource):
    """Folder modules installed in ``FINEHUB_HOME/modules/<name>/<version>/``."""

    name = "local"
    installed = True

    def candidates(self, name: str) -> list[Candidate]:
        return [_local_candidate(m) for m in store.installed(name)]

    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        assert candidate.folder is not None
        return load_folder(candidate.folder, allow_pickle=allow_pickle, init_args=init_args)

    def listing(self, *, remote: bool) -> list[Candidate]:
        return [_local_candidate(m) for m in store.installed()]


class EntryPointSource(ModuleSource):
    """Installed distributions exposing entry points in group ``finehub.modules``; the built-ins
    register the same way, so third-party packages are first-class."""

    name = "entrypoint"
    installed = True

    def candidates(self, name: str) -> list[Candidate]:
        return [c for c in entry_point_candidates() if c.name == name]

    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        ep = candidate.entry_point
        return _checked_class(ep.load(), candidate.name, str(ep.value))(directory=None, **init_args)

    def rejection(self, candidate: Candidate) -> str:
        return "its entry point fails to load (see the warning above)" if candidate.version == "0" else ""

    def listing(self, *, remote: bool) -> tuple[Candidate, ...]:
        return entry_point_candidates()


class IndexSource(ModuleSource):
    """The bundled index and the configured one: archives are installed into the store first,
    ``hf://`` versions are fetched through huggingface_hub."""

    name = "index"

    def candidates(self, name: str) -> Iterator[Candidate]:
        errors: list[OfflineError] = []
        for idx in index_mod.indexes():
            if isinstance(idx, OfflineError):
                errors.append(idx)
                continue
            yield from (_index_candidate(e) for e in idx.find(name))
        if errors:
            raise errors[0]

    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        entry = candidate.index_entry
        assert entry is not None
        if entry.source:
            return _load_hf(entry, init_args)
        installed = store.install_from_index(entry, allow_pickle=allow_pickle)
        return load_folder(installed.path, allow_pickle=allow_pickle, init_args=init_args)

    def listing(self, *, remote: bool) -> list[Candidate]:
        return [
            _index_candidate(e)
            for idx in index_mod.indexes(remote=remote)
            if not isinstance(idx, OfflineError)
            for e in idx.versions
        ]


class HfSource(ModuleSource):
    """A Hugging Face repository named ``hf://org/repo[@revision]``, loaded as a text encoder."""

    name = "hf"

    def claims(self, name: str) -> bool:
        return name.startswith("hf://")

    def candidates(self, name: str) -> list[Candidate]:
        if not self.claims(name):
            return []
        repo, _ = _hf_repo(name)
        entry = index_mod.IndexVersion(
            name=repo.split("/")[1], version="0", source=name, entry=DEFAULT_HF_ENTRY, index=name
        )
        return [Candidate(entry.name, entry.version, "hf", origin=name, index_entry=entry)]

    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        assert candidate.index_entry is not None
        return _load_hf(candidate.index_entry, init_args)


class PathSource(ModuleSource):
    """A module folder (with ``module.json``) or archive given by path; archives are installed."""

    name = "path"

    def claims(self, name: str) -> bool:
        return (
            "://" not in name and ("/" in name or name.startswith(".")) and Path(name).expanduser().exists()
        )

    def candidates(self, name: str) -> list[Candidate]:
        if not self.claims(name):
            return []
        path = Path(name).expanduser()
        return [Candidate(path.name, "0", "path", origin=str(path))]

    def load(self, candidate: Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]) -> ModuleBase:
        path = Path(candidate.origin)
        if path.is_dir():
            info = store.read_manifest(path)
            check_compatible(info.name, info.version, info.finehub)
            return load_folder(path, allow_pickle=allow_pickle, init_args=init_args, info=info)
        installed = store.install_archive(path, allow_pickle=allow_pickle)
        return load_folder(installed.path, allow_pickle=allow_pickle, init_args=init_args)


for _source in (EntryPointSource(), LocalSource(), IndexSource(), HfSource(), PathSource()):
    register(_source)


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


def check_compatible(name: str, version: str, required: str) -> None:
    """Raise IncompatibleModuleError unless this finehub is in the ``required`` range."""
    from packaging.specifiers import SpecifierSet

    if required and not SpecifierSet(required).contains(__version__, prereleases=True):
        raise IncompatibleModuleError(name, version, required, __version__)


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


def load_folder(
    folder: Path, *, allow_pickle: bool, init_args: Mapping[str, Any], info: ModuleInfo | None = None
) -> ModuleBase:
    """Verify a module folder's assets, then build its class with the manifest's and the caller's
    ``init_args`` (the caller's win)."""
    info = info or store.read_manifest(folder)
    store.verify_folder(folder, info, allow_pickle=allow_pickle)
    if not info.entry:
        raise InvalidManifestError(str(folder / store.MANIFEST), "missing 'entry' (the class to load)")
    cls = load_class(info.entry, folder=folder, where=str(folder / store.MANIFEST))
    module = cls(directory=folder, **{**dict(info.config.get("init_args", {})), **init_args})
    module.info = info  # the folder's metadata (name, version) describes this instance
    return module


def _load_hf(entry: index_mod.IndexVersion, init_args: Mapping[str, Any]) -> ModuleBase:
    """``hf://org/repo[@rev]`` -> snapshot folder (honouring the HF cache and HF_HUB_OFFLINE) -> module."""
    assert entry.source is not None
    ref = entry.source
    repo, revision = _hf_repo(ref)
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
    entry_class = entry.entry or DEFAULT_HF_ENTRY
    cls = load_class(entry_class, where=ref)
    module = cls(directory=folder, **{**entry.config, **init_args})
    module.info = ModuleInfo(
        name=entry.name,
        version=entry.version,
        summary=cls.info.summary,
        task=cls.info.task,
        entry=entry_class,
        config=entry.config,
    )
    return module


def _hf_repo(ref: str) -> tuple[str, str]:
    """``hf://org/repo@rev`` -> ("org/repo", "rev")."""
    repo, _, revision = ref.removeprefix("hf://").partition("@")
    if repo.count("/") != 1:
        raise ConfigError(
            f"module reference {ref!r}",
            "not a Hugging Face reference; write hf://org/repo or hf://org/repo@revision",
        )
    return repo, revision


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
