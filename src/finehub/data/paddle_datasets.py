"""PaddleHub's ``hub.dataset``: class-style constructors for the registered datasets.

    import finehub as hub
    ds = hub.dataset.ChnSentiCorp()      # PaddleHub 1.x's spelling: hub.datasets.load("chnsenticorp")
    ds = hub.dataset.ChineseReviews()    # every registered name, in CamelCase

Each constructor is :func:`finehub.data.registry.load` of one registered name, made on first use, so
datasets registered later (``@register_dataset``) get one too. PaddleHub's own names are kept only
where finehub's dataset is that very data (``ChnSentiCorp``). PaddleHub datasets finehub does not
have are not stood in for by other data: asking for one says so and names the nearest finehub
dataset, as a different dataset.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from finehub.data.dataset import Dataset
from finehub.data.registry import list_datasets, load

#: PaddleHub's class name -> the registered finehub dataset holding the same data.
PADDLEHUB_NAMES = {"ChnSentiCorp": "chnsenticorp"}

#: PaddleHub datasets finehub lacks -> the nearest finehub dataset (different data), or None.
NEAREST = {
    "MSRA_NER": "peoples-daily-ner",
    "THUCNEWS": "bbc-news",
    "LCQMC": "bbc-news-pairs",
    "Toxic": "bbc-news-multilabel",
}


def camel_case(name: str) -> str:
    """``"chinese-reviews"`` -> ``"ChineseReviews"``."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def constructors() -> dict[str, Callable[..., Dataset]]:
    """Every class-style name, CamelCase and PaddleHub's, with its constructor."""
    names = {camel_case(n): n for n in list_datasets()}
    names.update(PADDLEHUB_NAMES)
    return {cls: _constructor(cls, name) for cls, name in sorted(names.items())}


def _constructor(class_name: str, name: str) -> Callable[..., Dataset]:
    def construct(**kwargs: Any) -> Dataset:
        return load(name, **kwargs)

    construct.__name__ = construct.__qualname__ = class_name
    construct.__doc__ = f"The {name!r} dataset: ``finehub.datasets.load({name!r}, **kwargs)``."
    return construct


def __getattr__(name: str) -> Callable[..., Dataset]:
    if name.startswith("__"):
        raise AttributeError(name)
    found = constructors()
    if name in found:
        return found[name]
    nearest = NEAREST.get(name)
    if nearest is not None:
        hint = (
            f"PaddleHub's {name} is not in finehub; the nearest is {camel_case(nearest)}() "
            f"({nearest!r}), a different dataset"
        )
    else:
        close = difflib.get_close_matches(name, list(found), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(found)}"
    raise AttributeError(f"finehub.dataset has no {name!r}: {hint}; or load your own files with hub.datasets")


def __dir__() -> list[str]:
    return sorted([*globals(), *constructors()])
