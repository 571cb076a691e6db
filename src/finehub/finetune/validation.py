"""Typed checks of configuration values, shared by RunConfig, the strategies and the tasks.

Each check returns the value it accepts and raises :class:`~finehub.errors.ConfigError` naming
the field otherwise, so a wrong type (``learning_rate="fast"``) is reported like a wrong value,
never as a TypeError from deep inside. YAML loading prefixes the section to the field
(``strategy.learning_rate``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, TypeVar

from finehub.errors import ConfigError

T = TypeVar("T")


def check_number(
    name: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    integer: bool = False,
    none: str | None = None,
) -> Any:
    """``value`` when it is a finite number (an integer if ``integer``) within the bounds
    (``gt``: greater than, ``ge``: at least, ``lt``: less than, ``le``: at most). With ``none``,
    None is accepted too and ``none`` says what it means ("no clipping"). Booleans are refused."""
    if value is None and none is not None:
        return value
    kind = Integral if integer else Real
    ok = (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and (isinstance(value, Integral) or math.isfinite(value))
        and (gt is None or value > gt)
        and (ge is None or value >= ge)
        and (lt is None or value < lt)
        and (le is None or value <= le)
    )
    if not ok:
        alternative = f", or None ({none})" if none is not None else ""
        raise ConfigError(
            name, f"must be {_describe(integer, gt, ge, lt, le)}{alternative}, got {_shown(value)}"
        )
    return value


def check_choice(name: str, value: Any, choices: Sequence[T]) -> T:
    """``value`` when it is one of ``choices``; otherwise the error lists them (closest first)."""
    if isinstance(value, bool) or value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(name, f"must be one of {list(choices)}, got {_shown(value)}{hint}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` when it is True or False (not 0/1 or "yes")."""
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be true or false, got {_shown(value)}")
    return value


def _describe(integer: bool, gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    """The accepted values in words: a number in [0, 1), a number > 0, a positive integer..."""
    kind = "an integer" if integer else "a number"
    if integer and (gt, ge, lt, le) == (None, 1, None, None):
        return "a positive integer"
    low = f"[{_num(ge)}" if ge is not None else f"({_num(gt)}" if gt is not None else ""
    high = f"{_num(le)}]" if le is not None else f"{_num(lt)})" if lt is not None else ""
    if low and high:
        return f"{kind} in {low}, {high}"
    if low:
        return f"{kind} {'>=' if ge is not None else '>'} {low[1:]}"
    if high:
        return f"{kind} {'<=' if le is not None else '<'} {high[:-1]}"
    return "an integer" if integer else "a finite number"


def _num(x: float | None) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _shown(value: Any) -> str:
    """The value as written, with its type when that is the problem (``'1e-3'`` is text)."""
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (Real, type(None))):
        return repr(value)
    return f"{value!r} ({type(value).__name__})"
