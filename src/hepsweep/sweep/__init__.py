"""Studies: the search-space grammar, the study runner behind the Hydra sweeper, reports, resume."""

from hepsweep.sweep.search_space import SearchSpace, parse_search_space
from hepsweep.sweep.settings import SweepSettings
from hepsweep.sweep.study import JobOutcome, StudyRunner

__all__ = ["JobOutcome", "SearchSpace", "StudyRunner", "SweepSettings", "parse_search_space"]
