"""CMS open-data style events: ttbar (lepton+jets) against W+jets and Drell-Yan.

Each event is a list of physics objects (electrons, muons, jets with a b-tag, missing transverse
energy). ttbar gives one isolated lepton, four or more jets of which two are from b quarks, and
MET from the neutrino; W+jets gives one lepton, MET and fewer, mostly light jets (with mistags);
Drell-Yan gives two same-flavour leptons near the Z mass, little MET and few jets, except when a
lepton falls outside the acceptance and it mimics W+jets. Events become either a fixed-length
feature vector (missing objects padded with zeros, as in the paper's FFN) or the paper's image.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from omegaconf import DictConfig

from hepsweep.data._base import DatasetFamily
from hepsweep.data.arrays import Arrays
from hepsweep.data.readers import require_file
from hepsweep.errors import ConfigError, DataError

CLASSES = ("ttbar", "wjets", "drell_yan")
MAX_LEPTONS, MAX_JETS = 2, 6
ELECTRON, MUON = 1, 2
ETA_RANGE, PHI_RANGE = 3.0, np.pi

# Colours of the paper's event images (RGB in 0..255) on a white canvas.
COLOURS = {
    "electron": (0, 0, 255),
    "muon": (0, 160, 0),
    "jet": (255, 140, 140),
    "bjet": (139, 0, 0),
    "met": (0, 0, 0),
}


@dataclass
class Events:
    """Object-level events. leptons: (N, 2, 4) pt, eta, phi, flavour (0 = none);
    jets: (N, 6, 4) pt, eta, phi, b-tag (pt 0 = none); met: (N, 2) pt, phi."""

    leptons: np.ndarray
    jets: np.ndarray
    met: np.ndarray


def _objects(n: int, pt_min: float, pt_scale: float, eta_max: float, rng: np.random.Generator) -> np.ndarray:
    pt = pt_min + rng.exponential(pt_scale, n)
    eta = np.clip(rng.normal(0, 1.1, n), -eta_max, eta_max)
    return np.column_stack([pt, eta, rng.uniform(-np.pi, np.pi, n)])


def _event(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    leptons = np.zeros((MAX_LEPTONS, 4))
    jets = np.zeros((MAX_JETS, 4))
    flavour = ELECTRON if rng.random() < 0.5 else MUON
    if kind == "ttbar":
        n_lep, n_jets, n_b, jet_scale, met_scale = 1, 3 + rng.poisson(1.2), 2, 55.0, 45.0
        mistag = 0.04
    elif kind == "wjets":
        n_lep, n_jets, n_b, jet_scale, met_scale = 1, rng.poisson(1.6), 0, 38.0, 35.0
        mistag = 0.1 if rng.random() > 0.08 else 0.7  # W + heavy flavour
    else:
        n_lep, n_jets, n_b, jet_scale, met_scale = 2, rng.poisson(0.9), 0, 35.0, 12.0
        mistag = 0.05
        if rng.random() < 0.3:  # a lepton lost outside the acceptance
            n_lep = 1
    n_jets = min(n_jets, MAX_JETS)
    leptons[:n_lep, :3] = _objects(n_lep, 20.0, 35.0, 2.4, rng)
    if kind == "drell_yan" and n_lep == 2:
        leptons[1, 0] = max(20.0, (91.2 + rng.normal(0, 3.0)) ** 2 / (4 * leptons[0, 0]) * rng.uniform(0.8, 1.6))
        leptons[1, 2] = (leptons[0, 2] + np.pi + rng.normal(0, 0.4)) % (2 * np.pi) - np.pi
    leptons[:n_lep, 3] = flavour
    if n_jets:
        jets[:n_jets, :3] = _objects(n_jets, 30.0, jet_scale, 2.4, rng)
        truth_b = np.arange(n_jets) < min(n_b, n_jets)
        rng.shuffle(truth_b)
        jets[:n_jets, 3] = np.where(truth_b, rng.random(n_jets) < 0.7, rng.random(n_jets) < mistag)
    met = np.array([5.0 + rng.exponential(met_scale), rng.uniform(-np.pi, np.pi)])
    order = np.argsort(-jets[:, 0])
    return leptons, jets[order], met


def generate_events(n_events: int, rng: np.random.Generator) -> tuple[Events, np.ndarray]:
    labels = rng.integers(0, len(CLASSES), n_events)
    parts = [_event(CLASSES[label], rng) for label in labels]
    events = Events(*(np.stack([p[i] for p in parts]) for i in range(3)))
    return events, labels.astype(np.int64)


def event_feature_names() -> list[str]:
    """The columns of :func:`event_features`, in order."""
    names = [f"lep{i}_{v}" for i in range(MAX_LEPTONS) for v in ("log_pt", "eta", "phi", "is_e", "is_mu")]
    names += [f"jet{i}_{v}" for i in range(MAX_JETS) for v in ("log_pt", "eta", "phi", "btag")]
    return names + ["met_log_pt", "met_phi", "n_leptons", "n_jets", "n_btags"]


def event_features(events: Events) -> np.ndarray:
    """Fixed-length vector: per lepton (log pt, eta, phi, is_e, is_mu), per jet (log pt, eta, phi,
    b-tag), MET (log pt, phi), and counts of leptons, jets and b-tags. Missing objects are zeros."""
    lep, jets = events.leptons, events.jets
    lep_present = lep[..., 0] > 0
    jet_present = jets[..., 0] > 0
    lep_block = np.concatenate(
        [
            np.where(lep_present, np.log(np.maximum(lep[..., 0], 1.0)), 0.0)[..., None],
            lep[..., 1:3],
            (lep[..., 3] == ELECTRON)[..., None],
            (lep[..., 3] == MUON)[..., None],
        ],
        axis=-1,
    ).reshape(len(lep), -1)
    jet_block = np.concatenate(
        [np.where(jet_present, np.log(np.maximum(jets[..., 0], 1.0)), 0.0)[..., None], jets[..., 1:4]],
        axis=-1,
    ).reshape(len(jets), -1)
    counts = np.column_stack(
        [lep_present.sum(1), jet_present.sum(1), (jets[..., 3] * jet_present).sum(1)]
    )
    met = np.column_stack([np.log(np.maximum(events.met[:, 0], 1.0)), events.met[:, 1]])
    return np.concatenate([lep_block, jet_block, met, counts], axis=1).astype(np.float32)


def _circle(canvas: np.ndarray, eta: float, phi: float, energy: float, colour: tuple[int, int, int],
            radius_scale: float) -> None:
    """Draw the circumference R = C ln(E) (scaled to the canvas) centred at (eta, phi)."""
    size = canvas.shape[0]
    radius = radius_scale * np.log(max(energy, 1.0)) * size / 224.0
    cx = (eta + ETA_RANGE) / (2 * ETA_RANGE) * size
    cy = (phi + PHI_RANGE) / (2 * PHI_RANGE) * size
    angles = np.linspace(0, 2 * np.pi, max(16, int(2 * np.pi * radius * 1.5)), endpoint=False)
    xs = np.round(cx + radius * np.cos(angles)).astype(int)
    ys = np.round(cy + radius * np.sin(angles)).astype(int)
    inside = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)
    canvas[ys[inside], xs[inside]] = colour


def render_event_images(events: Events, size: int, radius_scale: float) -> np.ndarray:
    """The paper's event images: uint8 RGB canvases (N, size, size, 3), white background."""
    images = np.full((len(events.met), size, size, 3), 255, dtype=np.uint8)
    for i in range(len(images)):
        canvas = images[i]
        for pt, eta, phi, flavour in events.leptons[i]:
            if pt > 0:
                kind = "electron" if flavour == ELECTRON else "muon"
                _circle(canvas, eta, phi, pt * np.cosh(eta), COLOURS[kind], radius_scale)
        for pt, eta, phi, btag in events.jets[i]:
            if pt > 0:
                _circle(canvas, eta, phi, pt * np.cosh(eta), COLOURS["bjet" if btag else "jet"], radius_scale)
        _circle(canvas, 0.0, events.met[i, 1], abs(events.met[i, 0]), COLOURS["met"], radius_scale)
    return images


def read_events_npz(path: Path, max_events: int | None) -> tuple[Events, np.ndarray] | Arrays:
    """An .npz with object arrays (leptons, jets, met, y) or ready arrays (x, y)."""
    require_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = set(archive.files)
            if {"x", "y"} <= files:
                return Arrays(archive["x"][:max_events], archive["y"][:max_events].astype(np.int64))
            needed = {"leptons", "jets", "met", "y"}
            if not needed <= files:
                raise DataError(
                    f"'{path.name}' holds {sorted(files)}; save either x and y, or the objects "
                    "leptons (N,2,4), jets (N,6,4), met (N,2) and labels y"
                )
            events = Events(*(archive[k][:max_events].astype(np.float64) for k in ("leptons", "jets", "met")))
            return events, archive["y"][:max_events].astype(np.int64)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read '{path.name}' as .npz ({exc}); write it with np.savez") from exc


class CmsEvents(DatasetFamily):
    name = "cms_events"

    def class_names(self, cfg: DictConfig) -> list[str]:
        if cfg.representation not in ("features", "image"):
            raise ConfigError(
                f"dataset.representation={cfg.representation!r} is unknown; use features or image"
            )
        if cfg.representation == "image" and cfg.image_size < 16:
            raise ConfigError(f"dataset.image_size={cfg.image_size} is too small to draw events; use 16 or more")
        return list(CLASSES)

    def signal_class(self, cfg: DictConfig) -> int | None:
        return CLASSES.index("ttbar")

    def feature_names(self, cfg: DictConfig) -> list[str] | None:
        return event_feature_names() if cfg.representation == "features" else None

    def generated_shape(self, cfg: DictConfig) -> tuple[int, ...] | None:
        if cfg.representation == "image":
            return (int(cfg.image_size), int(cfg.image_size), 3)
        return (len(event_feature_names()),)

    def generate(self, cfg: DictConfig, rng: np.random.Generator) -> Arrays:
        self.class_names(cfg)
        events, labels = generate_events(int(cfg.n_events), rng)
        return self._represent(events, labels, cfg)

    def read(self, path: Path, cfg: DictConfig) -> Iterator[Arrays]:
        self.class_names(cfg)
        loaded = read_events_npz(path, cfg.max_events)
        yield loaded if isinstance(loaded, Arrays) else self._represent(*loaded, cfg)

    def _represent(self, events: Events, labels: np.ndarray, cfg: DictConfig) -> Arrays:
        if cfg.representation == "image":
            return Arrays(render_event_images(events, int(cfg.image_size), float(cfg.radius_scale)), labels)
        return Arrays(event_features(events), labels)
