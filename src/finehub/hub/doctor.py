"""What is missing for each installed module: its declared pip requirements and its package assets
(files from npm tarballs), checked without running it."""

from __future__ import annotations

from importlib import metadata

from finehub.hub import assets, loader


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
        missing += [
            f"{asset.path}: {state} (`finehub assets fetch {cand.name}`)"
            for asset, state in assets.status(cls.info.assets)
            if state != "ok"
        ]
        out.append((cand.name, missing))
    return out
