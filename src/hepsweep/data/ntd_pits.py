"""MoEDAL nuclear-track-detector images: does a scanned patch hold an etch pit?

An etch pit seen from above is an ellipse (a circle for normal incidence): a dark cone with a
bright rim where light is refracted. Empty patches still show the polymer surface: grain,
uneven illumination, scratches and dust specks, some of which look like small pits. Citizen-
science labels are imperfect, so a few percent are flipped. Together with a few hundred images,
this keeps a small CNN near the 80% that HIPSTER reports.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from hepsweep.data._base import DatasetFamily
from hepsweep.data.arrays import Arrays

LABEL_NOISE = 0.06
GRAIN = 0.12  # surface grain (noise) amplitude
DEPTH = (0.3, 0.7)  # contrast of an etch pit's cone


def _surface(size: int, rng: np.random.Generator) -> np.ndarray:
    """Polymer surface: grain plus a smooth illumination gradient."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    gradient = rng.normal(0, 0.15) * xx + rng.normal(0, 0.15) * yy
    grain = rng.normal(0.0, GRAIN, (size, size))
    return 0.5 + gradient + grain


def _ellipse_profile(
    size: int, centre: np.ndarray, axes: np.ndarray, angle: float
) -> np.ndarray:
    """Normalised elliptical radius r (r<1 inside) for each pixel."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xx - centre[0], yy - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    return np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)


def _add_pit(image: np.ndarray, rng: np.random.Generator, small: bool = False) -> None:
    size = image.shape[0]
    centre = size / 2 + rng.normal(0, size / 8, 2)
    radius = rng.uniform(1.2, 2.5) if small else rng.uniform(3.0, size / 6)
    axes = radius * np.array([1.0, rng.uniform(0.55, 1.0)])
    r = _ellipse_profile(size, centre, axes, rng.uniform(0, np.pi))
    depth = rng.uniform(*DEPTH)
    image -= depth * np.clip(1 - r, 0, 1) ** 0.7  # dark cone
    image += 0.6 * depth * np.exp(-(((r - 1.0) / 0.18) ** 2))  # bright rim


def _add_scratch(image: np.ndarray, rng: np.random.Generator) -> None:
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    angle = rng.uniform(0, np.pi)
    offset = rng.uniform(-size / 3, size / 3)
    distance = np.abs((xx - size / 2) * np.sin(angle) - (yy - size / 2) * np.cos(angle) - offset)
    image -= rng.uniform(0.1, 0.3) * np.exp(-((distance / 0.8) ** 2))


def generate_pits(n_events: int, size: int, rng: np.random.Generator) -> Arrays:
    """Half the patches hold a pit; scratches and dust land on both classes."""
    has_pit = rng.random(n_events) < 0.5
    images = np.empty((n_events, size, size, 1), dtype=np.float32)
    for i in range(n_events):
        image = _surface(size, rng)
        if has_pit[i]:
            _add_pit(image, rng)
        for _ in range(rng.poisson(0.9)):
            _add_pit(image, rng, small=True)  # dust specks mimic tiny pits
        if rng.random() < 0.35:
            _add_scratch(image, rng)
        images[i, :, :, 0] = np.clip(image, 0.0, 1.0)
    labels = has_pit ^ (rng.random(n_events) < LABEL_NOISE)
    return Arrays(images, labels.astype(np.int64))


class NtdPits(DatasetFamily):
    name = "ntd_pits"

    def class_names(self, cfg: DictConfig) -> list[str]:
        return ["no_pit", "pit"]

    def generated_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        return (int(cfg.image_size), int(cfg.image_size), 1)

    def generate(self, cfg: DictConfig, rng: np.random.Generator) -> Arrays:
        return generate_pits(int(cfg.n_events), int(cfg.image_size), rng)
