"""Example ntuples a newcomer can sweep on: a ttH(bb)-like signal against ttbar and W+jets.

Written as real ROOT files with uproot, in the layout of CMS NanoAOD: a TTree ``Events`` with
flat branches (``MET_pt``, ``weight``) and a jagged jet collection (``nJet``, ``Jet_pt``,
``Jet_eta``, ``Jet_btag``, jets ordered by falling pt). The classes overlap as real ones do:
the signal has more jets, more b-tagged jets and a harder spectrum. Each process carries its
own weight scale (cross-section x luminosity / generated events), with a few negative and zero
generator weights, as NLO samples do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from hepsweep.errors import ConfigError


@dataclass(frozen=True)
class Process:
    """How one physics process is drawn."""

    name: str
    mean_jets: float
    n_b: int  # jets from b quarks
    jet_pt_scale: float  # GeV, above the 25 GeV threshold
    met_scale: float  # GeV
    eta_width: float
    weight: float  # cross-section x luminosity / generated events


PROCESSES = (
    Process("signal", 5.3, 3, 56.0, 62.0, 1.35, 0.002),
    Process("ttbar", 4.7, 2, 52.0, 60.0, 1.4, 0.05),
    Process("wjets", 4.0, 1, 48.0, 55.0, 1.5, 0.4),
)


def draw(process: Process, n_events: int, rng: np.random.Generator) -> dict[str, ak.Array | np.ndarray]:
    """One process's events as columns: flat ``MET_pt``, ``weight`` and the jagged ``Jet``."""
    n_jets = np.maximum(rng.poisson(process.mean_jets, n_events), 2)
    total = int(n_jets.sum())
    pt = 25.0 + rng.exponential(process.jet_pt_scale, total)
    eta = rng.normal(0.0, process.eta_width, total)
    # which jets come from b quarks: the first n_b of each event (before ordering by pt)
    index_in_event = np.arange(total) - np.repeat(np.cumsum(n_jets) - n_jets, n_jets)
    from_b = index_in_event < np.minimum(np.repeat(np.full(n_events, process.n_b), n_jets), np.repeat(n_jets, n_jets))
    btag = np.where(from_b, rng.beta(3.0, 1.8, total), rng.beta(1.4, 4.0, total))
    jets = ak.unflatten(ak.zip({"pt": pt, "eta": eta, "btag": btag}), n_jets)
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    sign = rng.choice([1.0, -1.0, 0.0], n_events, p=[0.94, 0.05, 0.01])
    weight = process.weight * sign * rng.uniform(0.8, 1.2, n_events)
    return {"Jet": jets, "MET_pt": rng.exponential(process.met_scale, n_events), "weight": weight}


def write_example_ntuples(folder: Path, n_events: int = 20_000, seed: int = 2026) -> list[Path]:
    """Write ``signal.root``, ``ttbar.root`` and ``wjets.root`` into ``folder`` (ZSTD-compressed)."""
    import uproot  # heavy: only the writer needs uproot's writing side

    if n_events < 10:
        raise ConfigError(f"--events {n_events} is too few to split into training, validation and test; use 10 or more")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for process in PROCESSES:
        columns = draw(process, n_events, rng)
        path = folder / f"{process.name}.root"
        with uproot.recreate(path, compression=uproot.ZSTD(3)) as file:
            file.mktree("Events", {name: ak.type(values) if isinstance(values, ak.Array) else values.dtype
                                   for name, values in columns.items()})
            file["Events"].extend(columns)
        paths.append(path)
    return paths
