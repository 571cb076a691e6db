"""The search space: PaddleHub's ``param_list`` YAML, plus ``log``, ``step`` and categoricals.

A PaddleHub file is read as written::

    param_list:
    - name: learning_rate
      init_value: 0.001
      type: float
      lower_than: 0.05          # upper bound
      greater_than: 0.000005    # lower bound
      log: true                 # finehub: search on a log scale
    - name: batch_size
      init_value: 12
      type: int
      lower_than: 20
      greater_than: 10
      step: 2                   # finehub: only 10, 12, ..., 20
    - name: optimizer           # finehub: categorical
      type: categorical
      choices: [adam, sgd]
      init_value: adam

Bounds are inclusive. Every parameter maps to and from the normalised interval [-1, 1], where
the tuners work: linear or logarithmic for numbers (ints rounded to their step, with one
equal-width bin per integer), equal-width bins for categoricals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import SearchSpaceError

if TYPE_CHECKING:
    import numpy as np
    from optuna.distributions import BaseDistribution
    from optuna.trial import Trial

TYPES = ("int", "float", "categorical")
_KEYS = {"name", "type", "init_value", "greater_than", "lower_than", "log", "step", "choices"}
_STEP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Param:
    """One searchable hyper-parameter; ``low``/``high`` are inclusive, ``choices`` only for categoricals."""

    name: str
    type: str
    init: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    # -- normalised space -------------------------------------------------------------------

    def _span(self) -> tuple[float, float]:
        """The interval that [-1, 1] maps onto (log-transformed; widened by half a step for ints)."""
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.log:
            return math.log(lo), math.log(hi)
        if self.type == "int":
            half = (self.step or 1) / 2
            return lo - half, hi + half
        return lo, hi

    def to_normalised(self, value: Any) -> float:
        if self.type == "categorical":
            k = len(self.choices)
            return -1.0 + (2 * self.choices.index(value) + 1) / k
        lo, hi = self._span()
        v = math.log(float(value)) if self.log else float(value)
        return max(-1.0, min(1.0, 2 * (v - lo) / (hi - lo) - 1))

    def from_normalised(self, u: float) -> Any:
        u = max(-1.0, min(1.0, float(u)))
        if self.type == "categorical":
            k = len(self.choices)
            return self.choices[min(k - 1, int((u + 1) / 2 * k))]
        lo, hi = self._span()
        v = lo + (u + 1) / 2 * (hi - lo)
        if self.log:
            v = math.exp(v)
        return self.snap(v)

    def snap(self, v: float) -> Any:
        """Clip to the bounds and round to the step (ints: to whole numbers).

        Floats keep 12 significant digits, so the init value 0.001 comes back as 0.001 and not
        as 0.0010000000000000002 after the trip through the log scale.
        """
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        v = max(low, min(high, v))
        step = self.step if self.step is not None else (1 if self.type == "int" else None)
        if step is not None:
            n_max = math.floor((high - low) / step + _STEP_TOLERANCE)
            v = low + min(n_max, max(0, round((v - low) / step))) * step
        if self.type == "int":
            return int(round(v))
        return max(low, min(high, float(f"{v:.12g}")))

    # -- optuna -----------------------------------------------------------------------------

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "categorical":
            return CategoricalDistribution(self.choices)
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))  # type: ignore[arg-type]
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)  # type: ignore[arg-type]

    def suggest(self, trial: Trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, self.choices)
        if self.type == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )  # type: ignore[arg-type]
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)  # type: ignore[arg-type]

    def grid(self, points: int) -> list[Any]:
        """Grid values: every choice or step value, else ``points`` evenly spaced (log-aware) values."""
        if self.type == "categorical":
            return list(self.choices)
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        step = self.step if self.step is not None else (1 if self.type == "int" else None)
        if step is not None:
            n = math.floor((high - low) / step + _STEP_TOLERANCE) + 1
            if self.step is not None or n <= points:
                return [self.snap(low + i * step) for i in range(n)]
        ends = (math.log(low), math.log(high)) if self.log else (low, high)
        values = [ends[0] + (ends[1] - ends[0]) * i / (points - 1) for i in range(points)]
        return list(dict.fromkeys(self.snap(math.exp(v) if self.log else v) for v in values))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "init_value": self.init}
        if self.type == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(greater_than=self.low, lower_than=self.high)
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
        return out


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of :class:`Param`; the order fixes the axes of the normalised vector."""

    params: tuple[Param, ...]
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.params:
            raise SearchSpaceError("param_list", "the search space is empty; add at least one parameter")
        by_name: dict[str, Param] = {}
        for p in self.params:
            if p.name in by_name:
                raise SearchSpaceError(
                    p.name, "the name appears twice in param_list; give each parameter its own name"
                )
            by_name[p.name] = p
        object.__setattr__(self, "_by_name", by_name)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SearchSpaceError(
                str(path), f"cannot read the file ({e.strerror}); pass an existing YAML file"
            ) from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SearchSpaceError(str(path), f"not valid YAML: {e}") from e
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> SearchSpace:
        """Accept ``{"param_list": [...]}`` (PaddleHub) or the bare list of entries."""
        entries = data.get("param_list") if isinstance(data, Mapping) else data
        if not isinstance(entries, list):
            raise SearchSpaceError(
                "param_list", "expected a list of parameter entries under the key `param_list`"
            )
        return cls(tuple(_parse_entry(i, e) for i, e in enumerate(entries)))

    @classmethod
    def coerce(
        cls, space: SearchSpace | str | Path | Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> SearchSpace:
        if isinstance(space, SearchSpace):
            return space
        if isinstance(space, (str, Path)):
            return cls.from_yaml(space)
        return cls.from_dict(space)

    def to_dict(self) -> dict[str, Any]:
        return {"param_list": [p.to_dict() for p in self.params]}

    # -- access -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    # -- normalised space -------------------------------------------------------------------

    def x0(self) -> np.ndarray:
        """The init values, normalised."""
        import numpy as np

        return np.array([p.to_normalised(p.init) for p in self.params], dtype=float)

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        import numpy as np

        return np.array([p.to_normalised(values[p.name]) for p in self.params], dtype=float)

    def decode(self, x: Iterable[float]) -> dict[str, Any]:
        return {p.name: p.from_normalised(u) for p, u in zip(self.params, x, strict=True)}

    # -- optuna -----------------------------------------------------------------------------

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: Trial) -> dict[str, Any]:
        """Ask the trial's sampler for every parameter, in order."""
        return {p.name: p.suggest(trial) for p in self.params}

    def grid(self, points_per_float: int = 5) -> dict[str, list[Any]]:
        return {p.name: p.grid(points_per_float) for p in self.params}


def _parse_entry(index: int, entry: Any) -> Param:
    if not isinstance(entry, Mapping):
        raise SearchSpaceError(
            f"param_list[{index}]", "each entry must be a mapping with name, type and bounds"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SearchSpaceError(f"param_list[{index}]", "missing `name`; every entry needs a string name")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise SearchSpaceError(
            name, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    kind = entry.get("type")
    if kind not in TYPES:
        raise SearchSpaceError(name, f"unknown type {kind!r}; use one of: {', '.join(TYPES)}")
    if kind == "categorical":
        return _parse_categorical(name, entry)
    return _parse_number(name, kind, entry)


def _parse_categorical(name: str, entry: Mapping[str, Any]) -> Param:
    choices = entry.get("choices")
    if not isinstance(choices, list) or not choices:
        raise SearchSpaceError(name, "a categorical needs a non-empty list `choices`")
    for value in choices:
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise SearchSpaceError(name, f"choice {value!r} is not a string, number, boolean or null")
    if len(set(map(repr, choices))) != len(choices):
        raise SearchSpaceError(name, "`choices` lists a value twice")
    for key in ("greater_than", "lower_than", "log", "step"):
        if key in entry:
            raise SearchSpaceError(name, f"`{key}` does not apply to a categorical; remove it")
    init = entry.get("init_value", choices[0])
    if init not in choices:
        raise SearchSpaceError(name, f"init_value {init!r} is not one of the choices {choices}")
    return Param(name=name, type="categorical", init=init, choices=tuple(choices))


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchSpaceError(name, f"`{key}` must be a finite number, got {value!r}")
    return float(value)


def _parse_number(name: str, kind: str, entry: Mapping[str, Any]) -> Param:
    for key in ("greater_than", "lower_than"):
        if key not in entry:
            raise SearchSpaceError(
                name, f"missing `{key}` (greater_than is the lower bound, lower_than the upper bound)"
            )
    if "choices" in entry:
        raise SearchSpaceError(name, "`choices` is only for `type: categorical`")
    low = _number(name, "greater_than", entry["greater_than"])
    high = _number(name, "lower_than", entry["lower_than"])
    if low >= high:
        raise SearchSpaceError(name, f"greater_than ({low:g}) must be below lower_than ({high:g})")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise SearchSpaceError(name, f"`log` must be true or false, got {log!r}")
    if log and low <= 0:
        raise SearchSpaceError(name, f"log: true needs positive bounds, but greater_than is {low:g}")
    step = entry.get("step")
    if step is not None:
        step = _number(name, "step", step)
        if step <= 0:
            raise SearchSpaceError(name, f"`step` must be positive, got {step:g}")
        if log:
            raise SearchSpaceError(name, "`step` and `log: true` cannot be combined; drop one of them")
        ratio = (high - low) / step
        if abs(ratio - round(ratio)) > 1e-6:
            raise SearchSpaceError(
                name, f"the range {low:g}..{high:g} is not a whole number of steps of {step:g}"
            )
    if kind == "int":
        for key, value in (("greater_than", low), ("lower_than", high), ("step", step)):
            if value is not None and not float(value).is_integer():
                raise SearchSpaceError(
                    name, f"`{key}` of an int parameter must be a whole number, got {value:g}"
                )
    init = entry.get("init_value")
    if init is None:
        init = _midpoint(low, high, log)
    else:
        init = _number(name, "init_value", init)
        if not low <= init <= high:
            raise SearchSpaceError(name, f"init_value {init:g} lies outside [{low:g}, {high:g}]")
    param = Param(name=name, type=kind, init=None, low=low, high=high, log=log, step=step)
    return Param(name=name, type=kind, init=param.snap(init), low=low, high=high, log=log, step=step)


def _midpoint(low: float, high: float, log: bool) -> float:
    return math.sqrt(low * high) if log else (low + high) / 2
