"""What a module is: metadata, a base class, and PaddleHub's three decorators.

A module is a class deriving from :class:`ModuleBase`, described by :func:`moduleinfo`::

    @moduleinfo(name="minilm-l6", version="1.0.0", task="text-embedding", summary="...")
    class MiniLM(ModuleBase):
        @runnable            # what `finehub run` calls: its first parameter takes the inputs
        @serving(batch="texts")   # exposed over HTTP; `texts` items may be micro-batched
        def embed(self, texts: list[str], batch_size: int = 32) -> list[list[float]]: ...

Lifecycle: the loader (``finehub.hub.loader``) resolves a name to a class and a folder, checks
``info.finehub`` against the running finehub, verifies the assets' sha256, then calls
``cls(directory=folder, **init_args)``. ``predict`` forwards to the runnable method, so every
module answers the same uniform call.

Init args flow down the class chain: each ``__init__`` takes the keyword arguments it knows and
passes the rest on with ``super().__init__(directory=directory, **init_args)``. Whatever reaches
:class:`ModuleBase` no class accepted, so it is refused there, naming what would have been accepted.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from finehub.errors import ConfigError, InvalidManifestError

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

_RUNNABLE = "__finehub_runnable__"
_SERVING = "__finehub_serving__"


@dataclass(frozen=True)
class Asset:
    """One file a module needs, pinned by sha256; ``url`` says where to fetch it when absent."""

    path: str
    sha256: str
    url: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ModuleInfo:
    """A module's metadata; the same fields as a folder module's ``module.json``."""

    name: str
    version: str
    summary: str = ""
    task: str = ""
    author: str = ""
    license: str = ""
    tags: tuple[str, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    assets: tuple[Asset, ...] = ()
    finehub: str = ""  # compatible finehub versions, a PEP 440 specifier such as ">=0.1,<1"
    requirements: tuple[str, ...] = ()  # pip requirement strings the module needs
    entry: str = ""  # "package.module:Class" or "module.py:Class" (folder modules)
    config: Mapping[str, Any] = field(default_factory=dict)  # free-form, read by the module class

    def __post_init__(self) -> None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        from finehub.hub.names import check_name, check_version

        where = f"module {self.name!r}"
        check_name(self.name, where=where)
        check_version(self.version, where=where)
        if self.finehub:
            try:
                SpecifierSet(self.finehub)
            except InvalidSpecifier as e:
                raise InvalidManifestError(
                    where, f"finehub range {self.finehub!r} is not a version specifier"
                ) from e
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "requirements", tuple(self.requirements))
        object.__setattr__(
            self, "assets", tuple(a if isinstance(a, Asset) else Asset(**a) for a in self.assets)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "module.json") -> ModuleInfo:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidManifestError(where, f"unknown field(s) {unknown}; known fields are {sorted(known)}")
        missing = [k for k in ("name", "version") if k not in data]
        if missing:
            raise InvalidManifestError(where, f"missing required field(s) {missing}")
        try:
            assets = tuple(Asset(**a) for a in data.get("assets", ()))
        except TypeError as e:
            raise InvalidManifestError(where, f"bad asset entry: {e}") from e
        return cls(**{**data, "assets": assets})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"], out["requirements"] = list(self.tags), list(self.requirements)
        out["assets"] = [asdict(a) for a in self.assets]
        out["inputs"], out["outputs"], out["config"] = (
            dict(self.inputs),
            dict(self.outputs),
            dict(self.config),
        )
        return out


@dataclass(frozen=True)
class ServingSpec:
    """How a method is exposed over HTTP: ``batch`` names the list argument the batcher may merge;
    ``exclude`` names parameters HTTP clients must not set (e.g. paths the server would write to)."""

    batch: str | None = None
    exclude: tuple[str, ...] = ()


def moduleinfo(**fields_: Any) -> Callable[[C], C]:
    """Class decorator attaching :class:`ModuleInfo` (PaddleHub's name for it)."""

    def wrap(cls: C) -> C:
        fields_.setdefault("entry", f"{cls.__module__}:{cls.__qualname__}")
        cls.info = ModuleInfo(**fields_)  # type: ignore[attr-defined]
        return cls

    return wrap


def runnable(fn: F | None = None, *, input: str | None = None) -> Any:
    """Mark the method ``finehub run`` calls; ``input`` names the parameter taking the input list
    (default: the first parameter after ``self``)."""

    def wrap(f: F) -> F:
        name = input or next(iter(list(inspect.signature(f).parameters)[1:]), None)
        if name is None:
            raise TypeError(f"@runnable method {f.__qualname__} needs a parameter for its inputs")
        setattr(f, _RUNNABLE, name)
        return f

    return wrap(fn) if fn is not None else wrap


def serving(fn: F | None = None, *, batch: str | None = None, exclude: tuple[str, ...] = ()) -> Any:
    """Mark a method as served over HTTP. With ``batch="texts"``, concurrent requests' ``texts``
    lists may be concatenated into one call and the returned list split back. Parameters named in
    ``exclude`` keep their defaults and are not part of the HTTP API."""

    def wrap(f: F) -> F:
        setattr(f, _SERVING, ServingSpec(batch=batch, exclude=tuple(exclude)))
        return f

    return wrap(fn) if fn is not None else wrap


class ModuleBase:
    """Base class of every module. Subclasses set ``info`` with :func:`moduleinfo`."""

    info: ClassVar[ModuleInfo]

    def __init__(self, *, directory: str | Path | None = None, **unknown: Any) -> None:
        if unknown:
            raise _unknown_init_args(type(self), sorted(unknown))
        self.directory = Path(directory) if directory is not None else None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @classmethod
    def runnable_method(cls) -> tuple[str, str]:
        """(method name, input parameter name) of the ``@runnable`` method."""
        for attr, member in inspect.getmembers(cls, inspect.isfunction):
            if hasattr(member, _RUNNABLE):
                return attr, getattr(member, _RUNNABLE)
        raise InvalidManifestError(
            f"module {cls.info.name!r}",
            "no method is marked @runnable, so it cannot be run or predicted; mark the one taking the inputs",
        )

    @classmethod
    def serving_methods(cls) -> dict[str, ServingSpec]:
        """Methods marked ``@serving``, by name."""
        return {
            attr: getattr(member, _SERVING)
            for attr, member in inspect.getmembers(cls, inspect.isfunction)
            if hasattr(member, _SERVING)
        }

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """The uniform entry point: the module's ``@runnable`` method."""
        method, _ = self.runnable_method()
        return getattr(self, method)(*args, **kwargs)

    def backbone(self) -> Any:
        """The ``nn.Module`` and preprocessing that fine-tuning builds on (fine-tunable modules only)."""
        raise ConfigError(
            "module",
            f"{self.info.name!r} cannot be fine-tuned: it provides no backbone(); "
            "pick an encoder module such as 'minilm-l6'",
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.name}=={self.info.version}>"


def init_arg_names(cls: type[ModuleBase]) -> list[str]:
    """The keyword arguments ``cls`` accepts besides ``directory``: those named by the ``__init__``
    of every class from ``cls`` down to :class:`ModuleBase`."""
    mro = cls.__mro__
    names: set[str] = set()
    for klass in mro[: mro.index(ModuleBase)]:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        names.update(
            p.name
            for p in list(inspect.signature(init).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "directory"
        )
    return sorted(names)


def _unknown_init_args(cls: type[ModuleBase], unknown: list[str]) -> ConfigError:
    accepted = init_arg_names(cls)
    info = getattr(cls, "info", None)
    label = f"module {info.name!r}" if isinstance(info, ModuleInfo) else cls.__qualname__
    them = "it" if len(unknown) == 1 else "them"
    near = [m for u in unknown for m in difflib.get_close_matches(u, accepted, n=1)]
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    return ConfigError(
        f"init_args {', '.join(map(repr, unknown))} of {label}",
        f"{cls.__qualname__} does not accept {them}; it accepts: {', '.join(accepted) or 'no init_args'}."
        f"{hint} Remove or rename {them}.",
    )
