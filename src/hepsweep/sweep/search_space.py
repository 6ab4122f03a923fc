"""The search-space grammar of ``hydra.sweeper.params`` (the same as hydra-optuna-sweeper's).

=================================  =============================================
``choice(16, 32, 64)``             categorical (any Hydra values, config groups too)
``range(1, 5)`` / ``range(0.1, 1, step=0.1)``   integers 1..5 / a float grid (stop included)
``shuffle(range(1, 5))``           categorical 1..4 (Python's range: stop excluded)
``interval(0.0, 0.5)``             uniform float
``int(interval(8, 128))``          uniform integer
``tag(log, interval(1e-4, 1e-1))`` log-uniform (also for ``int(...)``)
``a,b,c`` on the command line      the same as ``choice(a,b,c)``
anything else                      a fixed override passed to every trial (``~key`` and
                                   ``+key=v`` too)
=================================  =============================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hepsweep.errors import SearchSpaceError, message_line
from hepsweep.redaction import mask

_PRIMITIVE = (str, int, float, bool, type(None))


@dataclass
class Parameter:
    """One searched key: its Optuna distribution and how a value becomes override text."""

    key: str
    distribution: BaseDistribution
    encodings: dict[tuple[type, Any], str] = field(default_factory=dict)  # (type, value): override text
    grid: list[Any] | None = None

    def override(self, value: Any) -> str:
        encoded = self.encodings.get((type(value), value))
        if encoded is not None:
            return f"{self.key}={encoded}"
        if isinstance(value, float):
            return f"{self.key}={value!r}"
        return f"{self.key}={value}"

    def describe(self) -> str:
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return f"choice({', '.join(map(str, d.choices))})"
        kind = "int" if isinstance(d, IntDistribution) else "float"
        log = ", log" if d.log else ""
        step = f", step={d.step}" if d.step not in (None, 1) else ""
        return f"{kind}[{d.low}, {d.high}{step}{log}]"


@dataclass
class SearchSpace:
    """Searched parameters plus fixed overrides passed to every trial."""

    parameters: dict[str, Parameter] = field(default_factory=dict)
    # key (with its +/~ prefix) -> value text; None for a deletion without a value (~key)
    fixed: dict[str, str | None] = field(default_factory=dict)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {k: p.distribution for k, p in self.parameters.items()}

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of one trial (fixed ones first, then the sampled ones)."""
        out = [k if v is None else f"{k}={v}" for k, v in self.fixed.items()]
        out += [p.override(params[k]) for k, p in self.parameters.items()]
        # parameters a custom search space suggested on the trial itself
        out += [Parameter(k, CategoricalDistribution([v])).override(v) for k, v in params.items() if k not in self.parameters]
        return out

    def example_overrides(self) -> list[str]:
        """Overrides with the first value of each parameter, to check that they compose."""
        return self.overrides({k: _first_value(p.distribution) for k, p in self.parameters.items()})

    def grid(self) -> dict[str, list[Any]] | None:
        """Every parameter's values for a grid search, or None if one is continuous."""
        if any(p.grid is None for p in self.parameters.values()):
            return None
        return {k: list(p.grid or []) for k, p in self.parameters.items()}

    def signature(self) -> dict[str, str]:
        """What identifies the study: searched keys with their ranges, and the fixed overrides."""
        sig = {k: p.describe() for k, p in sorted(self.parameters.items())}
        sig.update({k: mask(f"fixed {v}") for k, v in sorted(self.fixed.items())})  # stored and logged
        return sig


def _first_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low  # type: ignore[attr-defined]


def _range_values(start: float, stop: float, step: float, include_stop: bool = True) -> list[Any]:
    if step == 0 or (stop - start) * step < 0:
        return []
    count = math.floor((stop - start) / step + 1e-9) + 1
    values = [start + i * step for i in range(count)]
    if not include_stop and values and math.isclose(values[-1], stop):
        values.pop()
    if all(isinstance(v, int) for v in (start, stop, step)):
        return [int(v) for v in values]
    return [round(v, 12) for v in values]


def _parse_one(key: str, text: str) -> Parameter | str:
    """A Parameter for a sweep expression, or the override text of a fixed value."""
    try:
        override = OverridesParser.create().parse_override(f"{key}={text}")
    except Exception as exc:
        first = message_line(exc)
        raise SearchSpaceError(
            f"hydra.sweeper.params.{key}: cannot parse {text!r} ({first}); use choice(...), "
            "range(start, stop), interval(low, high), int(interval(...)) or tag(log, interval(...))"
        ) from None
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    log = "log" in getattr(value, "tags", set())
    if isinstance(value, ChoiceSweep):
        decoded = list(value.list)
        encoded = [str(Transformer.encode(v)) for v in decoded]
        if not decoded:
            raise SearchSpaceError(f"hydra.sweeper.params.{key}: choice() needs at least one value")
        if all(isinstance(v, _PRIMITIVE) for v in decoded):
            choices = decoded
        else:  # lists or dicts as choices: Optuna stores their override text
            choices = encoded
        encodings = {(type(c), c): e for c, e in zip(choices, encoded)}
        return Parameter(key, CategoricalDistribution(choices), encodings, grid=list(choices))
    if isinstance(value, RangeSweep):
        values = _range_values(value.start, value.stop, value.step, include_stop=not value.shuffle)
        if not values:
            raise SearchSpaceError(
                f"hydra.sweeper.params.{key}: {text} is empty; range(start, stop, step) needs start <= stop for a positive step"
            )
        if value.shuffle:  # hydra-optuna-sweeper: the values of Python's range, as a choice
            return Parameter(key, CategoricalDistribution(values), grid=list(values))
        step = value.step
        if all(isinstance(v, int) for v in values) and isinstance(step, int):
            if log and step != 1:
                raise SearchSpaceError(f"hydra.sweeper.params.{key}: a log range needs step=1")
            dist: BaseDistribution = IntDistribution(values[0], values[-1], log=log, step=1 if log else step)
        else:
            if log:
                raise SearchSpaceError(
                    f"hydra.sweeper.params.{key}: a log float range is not supported; use tag(log, interval(...))"
                )
            dist = FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
        return Parameter(key, dist, grid=values)
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None or not low < high:
            raise SearchSpaceError(
                f"hydra.sweeper.params.{key}: {text} needs low < high"
            )
        if log and low <= 0:
            raise SearchSpaceError(
                f"hydra.sweeper.params.{key}: a log interval needs a positive low end, got {low}"
            )
        if isinstance(low, int) and isinstance(high, int):
            return Parameter(key, IntDistribution(low, high, log=log))
        return Parameter(key, FloatDistribution(float(low), float(high), log=log))
    raise SearchSpaceError(f"hydra.sweeper.params.{key}: {text!r} is not a supported sweep")


def _as_text(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def parse_search_space(params: Mapping[str, Any] | None, arguments: Iterable[str] = ()) -> SearchSpace:
    """Search space from the sweeper's ``params`` plus command-line overrides (which win). An
    override that is not a sweep (``y=0``, ``+w=1``, ``~z``) is passed to every trial as given."""
    entries: dict[str, str | None] = {str(k): _as_text(v) for k, v in (params or {}).items()}
    parser = OverridesParser.create()
    for argument in arguments:
        try:
            override = parser.parse_override(argument)
        except Exception as exc:
            first = message_line(exc)
            raise SearchSpaceError(f"cannot parse the override {argument!r} ({first}); write it as key=value") from None
        key = override.get_key_element()
        if override.value_type is None:  # a deletion without a value: ~key
            entries[key] = None
            continue
        entries[key] = argument.split("=", 1)[1]
    space = SearchSpace()
    for key, text in entries.items():
        parsed = _parse_one(key, text) if text is not None else None
        if isinstance(parsed, Parameter):
            space.parameters[key] = parsed
        else:
            space.fixed[key] = text
    return space
