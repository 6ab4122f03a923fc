"""Training one model: :func:`run` (config -> data -> model -> fit -> evaluate -> outputs)."""

from hepsweep.train.benchmark import RunSummary
from hepsweep.train.objective import Objective
from hepsweep.train.run import RunResult, run

__all__ = ["Objective", "RunResult", "RunSummary", "run"]
