"""Resolving a module name to a loaded module: ``finehub.Module("minilm-l6")``.

Each place modules come from is a source in ``finehub.hub.sources`` (its base class documents the
lifecycle). A plain name is looked up in :data:`SOURCES` order; the first source that has a
version satisfying the constraint wins, and within a source the highest such version:

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
import logging
from typing import Any

from finehub.errors import ConfigError, IncompatibleModuleError, ModuleNotFoundInHubError, OfflineError
from finehub.hub import sources
from finehub.hub.module import ModuleBase
from finehub.hub.sources import (
    ENTRY_POINT_GROUP,
    SOURCES,
    Candidate,
    SourceName,
    check_compatible,
    entry_point_candidates,
    load_class,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "SOURCES",
    "Candidate",
    "Module",
    "SourceName",
    "all_candidates",
    "entry_point_candidates",
    "installed_candidates",
    "known_names",
    "load_candidate",
    "load_class",
    "resolve",
    "split_requirement",
]

log = logging.getLogger(__name__)


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
    ``init_args`` go to the module's constructor, which refuses the ones it does not take.
    """
    direct = sources.claiming(name)
    if direct is not None:  # a path or hf:// reference names one module: no version to choose
        candidate = next(iter(direct.candidates(name)))
    else:
        candidate = resolve(*split_requirement(name, version), source=source)
    return load_candidate(candidate, allow_pickle=allow_pickle, init_args=init_args)


def split_requirement(name: str, version: str | None = None) -> tuple[str, str]:
    """``"x==1.0"`` -> ("x", "==1.0"); a bare ``version`` "1.0" becomes "==1.0"."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    cut = next((i for i, c in enumerate(name) if c in "=<>!~"), len(name))
    base, spec = name[:cut].strip(), name[cut:].strip()
    if version:
        if spec:
            raise ConfigError(
                "version", f"given both in the name ({name!r}) and as version={version!r}; give it once"
            )
        spec = version if version[0] in "=<>!~" else f"=={version}"
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as e:
        raise ConfigError(
            "version", f"{spec!r} is not a version constraint (examples: ==1.0.0, >=1.0,<2)"
        ) from e
    return base, spec


def resolve(name: str, spec: str = "", *, source: SourceName | None = None) -> Candidate:
    """The best candidate for ``name`` satisfying ``spec``; errors list what was seen and why not."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    specifier = SpecifierSet(spec)
    rejected: list[str] = []
    offline_error: OfflineError | None = None
    for src in [sources.get(s) for s in ((source,) if source else SOURCES)]:
        try:
            found = list(src.candidates(name))
        except OfflineError as e:
            offline_error = e
            continue
        ok = []
        for cand in found:
            why = src.rejection(cand) or _rejection(cand, specifier)
            if why:
                rejected.append(f"{cand.name}=={cand.version} from {cand.source} ({cand.origin}): {why}")
            else:
                ok.append(cand)
        if ok:
            best = max(ok, key=lambda c: Version(c.version))
            log.debug(
                "%s%s resolves to %s==%s from %s (%s)",
                name,
                spec,
                best.name,
                best.version,
                src.name,
                best.origin,
            )
            return best
    if offline_error is not None and not rejected:
        raise offline_error
    raise ModuleNotFoundInHubError(
        f"{name}{spec}",
        close_matches=difflib.get_close_matches(name, known_names(), n=5, cutoff=0.5),
        rejected=rejected,
    )


def load_candidate(
    cand: Candidate, *, allow_pickle: bool = False, init_args: dict[str, Any] | None = None
) -> ModuleBase:
    """Load ``cand`` through the source that found it."""
    return sources.get(cand.source).load(cand, allow_pickle=allow_pickle, init_args=dict(init_args or {}))


def installed_candidates() -> list[Candidate]:
    """Modules usable without a download: entry points and installed folders."""
    return [c for src in sources.registered() if src.installed for c in src.listing(remote=False)]


def all_candidates(*, remote: bool = True) -> list[Candidate]:
    """Everything known: installed modules and index entries (for search)."""
    return [c for src in sources.registered() for c in src.listing(remote=remote)]


def known_names() -> list[str]:
    return sorted({c.name for c in all_candidates(remote=False)})


def _rejection(cand: Candidate, specifier: Any) -> str:
    """Why the version constraint or the finehub range rules ``cand`` out, or '' when neither does."""
    if specifier and not specifier.contains(cand.version, prereleases=True):
        return f"does not satisfy {specifier}"
    try:
        check_compatible(cand.name, cand.version, cand.finehub)
    except IncompatibleModuleError as e:
        return f"needs finehub{e.required} (this is {e.installed})"
    return ""
