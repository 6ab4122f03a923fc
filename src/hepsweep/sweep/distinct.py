"""No configuration trained twice: a sampler wrapper for finite search spaces, and per-trial seeds.

Two things make a plain Optuna sampler repeat itself in a study that is resumed or shared:

- A seeded sampler replays the same random sequence in every process that creates it, so a
  resumed study, a rerun of the same command and a second sweeper on the same storage all ask
  for the configurations the first one already tried. Here every trial draws from its own
  stream, seeded by the study's seed and the trial's number: a fresh study is reproducible, and
  two processes (which never get the same trial number) never share a stream. Samplers that
  index a fixed sequence by trial number (grid, QMC) keep their one seed: that is what makes
  them distribute over processes already.
- On a finite space (every parameter categorical, integer, or a float with a step) TPE and
  random sampling propose configurations already tried, more and more often as the space fills.
  Here a proposal that repeats a tried configuration is drawn again (a few times, from the
  sampler) and then replaced by an untried configuration chosen at random.

:func:`finite_values` and :func:`configuration` are what the study runner uses to stop a study
whose space is exhausted and to catch the rare race of two sweepers asking at the same instant.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import FrozenTrial, TrialState

from hepsweep.sweep._optuna_private import cached_trials

# samplers whose randomness is a stream: safe to reseed for every trial
_STREAM_SAMPLERS = ("TPESampler", "RandomSampler", "CmaEsSampler", "NSGAIISampler", "NSGAIIISampler", "GPSampler")
PROPOSALS = 8  # draws from the wrapped sampler before an untried configuration is picked at random
ENUMERATION_LIMIT = 200_000  # larger finite spaces are searched for an untried point by random draws


def finite_values(distributions: Mapping[str, BaseDistribution]) -> dict[str, list[Any]] | None:
    """Every value of every parameter, or None when one of them is continuous."""
    values: dict[str, list[Any]] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            values[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution):
            values[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            values[name] = [dist.low + i * dist.step for i in range(n)]
        else:
            return None
    return values


def space_size(values: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(v) for v in values.values())


def configuration(params: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    """A hashable key of a trial's parameters (the searched ones, in a fixed order)."""
    return tuple(params.get(name) for name in names)


def tried(trials: Sequence[FrozenTrial], names: Sequence[str], ignore: int | None = None) -> set[tuple[Any, ...]]:
    """The configurations of the study's trials, whatever their state (a failed one is not asked
    again either: its retry, if any, is queued by the study runner with the same parameters),
    leaving out trial number ``ignore`` (the one being sampled)."""
    return {
        configuration(t.params, names)
        for t in trials
        if t.number != ignore and t.params and len(t.params) >= len(names)
    }


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number``'s stream (None: unseeded)."""
    if seed is None:
        return None
    return (int(seed) * 1_000_003 + number * 7919 + 17) % 2**32


class DistinctSampler(BaseSampler):
    """Wraps the study's sampler: per-trial seeds, and no repeated configuration on a finite space.

    Args:
        make: Builds the wrapped sampler for a seed (the sweeper's sampler settings).
        seed: The study's seed (None: unseeded).
        distributions: The search space.
    """

    def __init__(
        self,
        make: Callable[[int | None], BaseSampler],
        seed: int | None,
        distributions: Mapping[str, BaseDistribution],
    ) -> None:
        self._make, self._seed = make, seed
        self._distributions = dict(distributions)
        self._names = sorted(self._distributions)
        self._values = finite_values(self._distributions)
        self._template = make(seed)
        self._current = self._template
        self._rng = random.Random(seed)
        name = type(self._template).__name__
        self._reseeded = name in _STREAM_SAMPLERS
        # the grid sampler picks whole configurations itself, from the study's trials
        self._dedupe = self._values is not None and not isinstance(self._template, GridSampler)

    @property
    def wrapped(self) -> BaseSampler:
        return self._template

    def exhausted(self, study: optuna.Study) -> bool:
        """Whether the wrapped sampler is a grid every point of which has been tried."""
        return isinstance(self._template, GridSampler) and self._template.is_exhausted(study)

    def reseed_rng(self) -> None:
        self._template.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._reseeded:
            seed = trial_seed(self._seed, trial.number)
            self._current = self._make(seed)
            self._rng = random.Random(seed)
        self._current.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._dedupe:
            return dict(self._distributions)
        return self._current.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not self._dedupe:
            return self._current.sample_relative(study, trial, search_space)
        taken = tried(cached_trials(study), self._names, ignore=trial.number)
        candidate: dict[str, Any] = {}
        for _ in range(PROPOSALS):
            candidate = self._propose(study, trial)
            if configuration(candidate, self._names) not in taken:
                return candidate
        untried = self._untried(taken)
        return untried if untried is not None else candidate

    def _propose(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        inner_space = self._current.infer_relative_search_space(study, trial)
        proposal = dict(self._current.sample_relative(study, trial, inner_space))
        for name in self._names:
            if name not in proposal:
                proposal[name] = self._current.sample_independent(study, trial, name, self._distributions[name])
        return proposal

    def _untried(self, taken: set[tuple[Any, ...]]) -> dict[str, Any] | None:
        """A configuration not in ``taken``, uniformly at random; None when there is none."""
        assert self._values is not None
        columns = [self._values[name] for name in self._names]
        if space_size(self._values) <= ENUMERATION_LIMIT:
            free = [c for c in itertools.product(*columns) if c not in taken]
            return dict(zip(self._names, self._rng.choice(free))) if free else None
        for _ in range(10_000):
            pick = tuple(self._rng.choice(column) for column in columns)
            if pick not in taken:
                return dict(zip(self._names, pick))
        return None

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._template.after_trial(study, trial, state, values)
