"""NNDrone distillation: a small drone network learns another classifier's outputs and is
exported as JSON for NumPy or C++ evaluation (``hepsweep drone RUN_OR_STUDY``)."""

from hepsweep.drone.growth import GrowthRule
from hepsweep.drone.reader import evaluate_drone, load_drone

__all__ = ["GrowthRule", "evaluate_drone", "load_drone"]
