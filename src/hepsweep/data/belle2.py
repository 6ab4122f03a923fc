"""Belle II pixel-detector clusters: 9x9 charge images of five particle species.

A charged particle crossing the 75 um sensor deposits charge along its projected path, with
Landau-like fluctuations around a mean set by its ionisation (Bethe-Bloch: slow protons and
deuterons ionise more than minimum-ionising pions; a magnetic monopole ionises thousands of
times more and, often crossing at shallow angles, leaves long elliptical clusters). Beam
background is dominated by low-energy electrons curling in the field: compact, very bright
blobs, easy to tell apart, as in the paper. Pions, protons and deuterons overlap through the
momentum spread and the fluctuations. The 6-feature variant reduces each cluster to the
quantities of the paper's PCA study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from omegaconf import DictConfig

from hepsweep.data._base import DatasetFamily
from hepsweep.data.arrays import Arrays
from hepsweep.data.readers import read_label_first_text, read_npz
from hepsweep.errors import ConfigError, DataError

SPECIES = ("background", "monopole", "pion", "proton", "deuteron")
FEATURE_NAMES = ("charge", "min_charge", "seed_charge", "size", "size_u", "size_v")
SIZE = 9
THRESHOLD = 0.25  # zero suppression, in units of a MIP's charge per pixel
SATURATION = 40.0

# Mean ionisation relative to a MIP (momentum spread folded in) and the spread of that mean.
_IONISATION = {"pion": (1.1, 0.15), "proton": (1.7, 0.55), "deuteron": (2.6, 0.9), "monopole": (18.0, 5.0)}


def _track_cluster(ionisation: float, length: float, rng: np.random.Generator) -> np.ndarray:
    """Charge of one straight track of projected ``length`` pixels, diffused over the grid."""
    angle = rng.uniform(0, np.pi)
    centre = SIZE / 2 + rng.normal(0, 0.6, 2)
    steps = max(2, int(length * 6))
    t = np.linspace(-0.5, 0.5, steps) * length
    xs, ys = centre[0] + t * np.cos(angle), centre[1] + t * np.sin(angle)
    # Landau-like fluctuation of each step's deposit (a Moyal draw, clipped at a long tail).
    moyal = -np.log(rng.chisquare(1, steps).clip(1e-3))
    deposits = ionisation * (1 + 0.25 * moyal).clip(0.2, 8) * (max(length, 1.0) / steps)
    grid = np.arange(SIZE) + 0.5
    wx = np.exp(-(((grid[None, :] - xs[:, None]) / 0.45) ** 2))
    wy = np.exp(-(((grid[None, :] - ys[:, None]) / 0.45) ** 2))
    wx /= wx.sum(axis=1, keepdims=True)
    wy /= wy.sum(axis=1, keepdims=True)
    return np.einsum("s,sy,sx->yx", deposits, wy, wx)


def _background_cluster(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    centre = SIZE / 2 + rng.normal(0, 1.0, 2)
    width = rng.uniform(0.9, 1.8)
    blob = np.exp(-(((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * width**2)))
    return rng.uniform(6.0, 14.0) * blob


def _cluster(species: str, rng: np.random.Generator) -> np.ndarray:
    if species == "background":
        charge = _background_cluster(rng)
    else:
        mean, spread = _IONISATION[species]
        ionisation = max(0.6, rng.normal(mean, spread))
        shallow = species == "monopole" and rng.random() < 0.6
        length = rng.uniform(3.0, 7.0) if shallow else rng.exponential(1.2) + 0.5
        charge = _track_cluster(ionisation, length, rng)
        if species == "monopole":  # delta rays widen the core
            charge += _track_cluster(ionisation * 0.08, length + 1.5, rng)
    charge += rng.normal(0, 0.06, charge.shape)  # electronic noise
    charge = np.where(charge > THRESHOLD, charge, 0.0)
    return np.minimum(charge, SATURATION).astype(np.float32)


CLUSTER_FEATURES = ("charge", "min_charge", "seed_charge", "size", "size_u", "size_v")


def cluster_features(images: np.ndarray) -> np.ndarray:
    """The 6 cluster features (charge, min charge, seed charge, size, size in u, size in v)."""
    flat = images.reshape(len(images), -1)
    hit = flat > 0
    size = hit.sum(axis=1)
    masked = np.where(hit, flat, np.inf)
    min_charge = np.where(size > 0, masked.min(axis=1), 0.0)
    rows = hit.reshape(len(images), SIZE, SIZE).any(axis=2)
    cols = hit.reshape(len(images), SIZE, SIZE).any(axis=1)
    return np.column_stack(
        [flat.sum(axis=1), min_charge, flat.max(axis=1), size, cols.sum(axis=1), rows.sum(axis=1)]
    ).astype(np.float32)


def generate_clusters(n_events: int, classes: list[str], rng: np.random.Generator) -> Arrays:
    """Equal numbers of each chosen species, as 9x9x1 charge images."""
    labels = rng.integers(0, len(classes), n_events)
    images = np.stack([_cluster(classes[label], rng) for label in labels])
    return Arrays(images[..., None], labels.astype(np.int64))


class Belle2Pixels(DatasetFamily):
    name = "belle2_pixels"
    file_formats = (".npz", ".txt", ".dat")

    def _classes(self, cfg: DictConfig) -> list[str]:
        classes = list(cfg.classes)
        unknown = sorted(set(classes) - set(SPECIES))
        if unknown or len(classes) < 2 or len(set(classes)) != len(classes):
            raise ConfigError(
                f"dataset.classes={classes} is not a list of two or more distinct species; "
                f"choose from {list(SPECIES)}"
            )
        if cfg.representation not in ("image", "features"):
            raise ConfigError(
                f"dataset.representation={cfg.representation!r} is unknown; use image or features"
            )
        return classes

    def class_names(self, cfg: DictConfig) -> list[str]:
        return self._classes(cfg)

    def feature_names(self, cfg: DictConfig) -> list[str] | None:
        return list(CLUSTER_FEATURES) if cfg.representation == "features" else None

    def generated_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        return (len(CLUSTER_FEATURES),) if cfg.representation == "features" else (SIZE, SIZE, 1)

    def generate(self, cfg: DictConfig, rng: np.random.Generator) -> Arrays:
        clusters = generate_clusters(int(cfg.n_events), self._classes(cfg), rng)
        return self._represent(clusters, cfg)

    def read(self, path: Path, cfg: DictConfig) -> Iterator[Arrays]:
        """Files label each cluster with its species id (0 background, 1 monopole, 2 pion,
        3 proton, 4 deuteron); the events of the species in ``dataset.classes`` are kept and
        relabelled in that order."""
        if path.name.endswith(".npz"):
            arrays = read_npz(path, max_events=cfg.max_events)
        else:
            arrays = read_label_first_text(path, SIZE * SIZE, max_events=cfg.max_events)
        x = arrays.x
        if x.ndim == 2 and x.shape[1] == SIZE * SIZE:
            x = x.reshape(-1, SIZE, SIZE, 1)
        if arrays.y.min(initial=0) < 0 or arrays.y.max(initial=0) >= len(SPECIES):
            raise DataError(
                f"'{path.name}' has labels outside 0..{len(SPECIES) - 1}; label each cluster with its "
                f"species id ({', '.join(f'{i} {s}' for i, s in enumerate(SPECIES))})"
            )
        wanted = np.array([SPECIES.index(c) for c in self._classes(cfg)])
        keep = np.isin(arrays.y, wanted)
        relabel = np.full(len(SPECIES), -1, dtype=np.int64)
        relabel[wanted] = np.arange(len(wanted))
        weights = None if arrays.w is None else arrays.w[keep]
        yield self._represent(Arrays(x[keep].astype(np.float32), relabel[arrays.y[keep]], weights), cfg)

    def _represent(self, clusters: Arrays, cfg: DictConfig) -> Arrays:
        self._classes(cfg)
        if cfg.representation == "features" and clusters.x.ndim == 4:
            return Arrays(cluster_features(clusters.x[..., 0]), clusters.y, clusters.w)
        return clusters
