"""What is missing for each installed module: its declared pip requirements, checked without running it."""

from __future__ import annotations

from importlib import metadata

from finehub.hub import loader


def module_requirements() -> list[tuple[str, list[str]]]:
    """(module name, problems) for every entry-point module; no problems means it is ready."""
    from packaging.requirements import Requirement

    out = []
    for cand in loader.entry_point_candidates():
        try:
            cls = cand.entry_point.load()
        except Exception as e:  # report a broken package instead of stopping the whole check
            out.append((cand.name, [f"cannot be imported: {type(e).__name__}: {e}"]))
            continue
        missing = []
        for text in cls.info.requirements:
            req = Requirement(text)
            try:
                have = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                missing.append(text)
                continue
            if req.specifier and not req.specifier.contains(have, prereleases=True):
                missing.append(f"{text} (have {have})")
        out.append((cand.name, missing))
    return out
