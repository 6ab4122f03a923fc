"""NNDrone's rule for growing the hidden layer (Benson & Gizdov, eqs. 2-4).

At epoch j, with loss L_j, the hidden layer gains a node when the loss has flattened and has
fallen far enough since the layer last grew:

    delta_j = |L_j - L_{j-1}| / L_j < kappa                               (2)
    sigma_j = m (1 - exp(-b (t + n))) delta_j L_j,   L_j < L_hat - sigma_j  (3)

t counts epochs since the last growth, L_hat is the loss then, and n is fixed by eq. (4),
sigma(t=0) = 2.5 delta_j L_j, i.e. n = -ln(1 - 2.5/m) / b. The paper's values: kappa = 0.02,
b = 0.04, m = 50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class GrowthRule:
    kappa: float = 0.02
    b: float = 0.04
    m: float = 50.0
    max_hidden: int = 64
    history: list[float] = field(default_factory=list)
    last_growth_loss: float | None = None
    epochs_since_growth: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.kappa < 1:
            raise ValueError(f"kappa must be in (0, 1), but got {self.kappa=}.")
        if self.b <= 0 or self.m <= 2.5:
            raise ValueError(f"b must be positive and m above 2.5, but got {self.b=} {self.m=}.")

    @property
    def n(self) -> float:
        """The offset that makes sigma start at 2.5 delta L right after a growth (eq. 4)."""
        return -math.log(1.0 - 2.5 / self.m) / self.b

    def sigma(self, delta: float, loss: float) -> float:
        return self.m * (1.0 - math.exp(-self.b * (self.epochs_since_growth + self.n))) * delta * loss

    def update(self, loss: float, hidden: int) -> bool:
        """Record the epoch's loss; True when the hidden layer should gain a node now."""
        self.history.append(loss)
        if self.last_growth_loss is None:
            self.last_growth_loss = loss
            return False
        self.epochs_since_growth += 1
        previous = self.history[-2]
        if loss <= 0 or hidden >= self.max_hidden:
            return False
        delta = abs(loss - previous) / loss
        grow = delta < self.kappa and loss < self.last_growth_loss - self.sigma(delta, loss)
        if grow:
            self.last_growth_loss = loss
            self.epochs_since_growth = 0
        return grow
