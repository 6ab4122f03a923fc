"""The built-in generators: shapes, seeding, and physics that is learnable but not trivial."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from hepsweep.data.belle2 import SPECIES, cluster_features, generate_clusters
from hepsweep.data.cms import COLOURS, Events, generate_events, render_event_images
from hepsweep.data.hepmass import N_FEATURES, generate_hepmass
from hepsweep.data.ntd_pits import generate_pits

MASSES = [500.0, 750.0, 1000.0, 1250.0, 1500.0]


def test_hepmass_layout_is_27_features_plus_raw_mass() -> None:
    events = generate_hepmass(4000, MASSES, np.random.default_rng(0))
    assert events.x.shape == (4000, N_FEATURES + 1)
    assert set(np.unique(events.x[:, -1])) <= set(MASSES)  # the mass column is not normalised
    assert abs(events.y.mean() - 0.5) < 0.05
    normalised = events.x[:, :-1]
    assert np.all(np.abs(normalised.mean(axis=0)) < 0.5)


def test_hepmass_is_seeded() -> None:
    a = generate_hepmass(500, MASSES, np.random.default_rng(3))
    b = generate_hepmass(500, MASSES, np.random.default_rng(3))
    c = generate_hepmass(500, MASSES, np.random.default_rng(4))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_hepmass_signal_is_separable_but_overlaps() -> None:
    """A linear model on the raw columns is clearly better than chance but far from perfect."""
    events = generate_hepmass(8000, MASSES, np.random.default_rng(1))
    x = (events.x - events.x.mean(0)) / events.x.std(0)
    model = LogisticRegression(max_iter=500).fit(x[:6000], events.y[:6000])
    auc = roc_auc_score(events.y[6000:], model.predict_proba(x[6000:])[:, 1])
    assert 0.65 < auc < 0.97


def test_hepmass_reconstructed_mass_peaks_at_the_hypothesis_for_signal() -> None:
    events = generate_hepmass(6000, MASSES, np.random.default_rng(2))
    signal_1500 = (events.y == 1) & (events.x[:, -1] == 1500.0)
    background_1500 = (events.y == 0) & (events.x[:, -1] == 1500.0)
    m_wwbb = events.x[:, N_FEATURES - 1]  # standardised, so compare relative positions
    assert m_wwbb[signal_1500].mean() > m_wwbb[background_1500].mean() + 1.0


def test_ntd_pits_images() -> None:
    pits = generate_pits(60, 40, np.random.default_rng(0))
    assert pits.x.shape == (60, 40, 40, 1)
    assert pits.x.dtype == np.float32
    assert 0.0 <= pits.x.min() and pits.x.max() <= 1.0
    assert 0.2 < pits.y.mean() < 0.8


def test_belle2_clusters_and_features() -> None:
    clusters = generate_clusters(500, list(SPECIES), np.random.default_rng(0))
    assert clusters.x.shape == (500, 9, 9, 1)
    assert set(np.unique(clusters.y)) == set(range(5))
    features = cluster_features(clusters.x[..., 0])
    assert features.shape == (500, 6)
    charge, min_charge, seed, size, size_u, size_v = features.T
    assert np.all(seed <= charge + 1e-4) and np.all(min_charge <= seed)
    assert np.all(size_u <= size) and np.all(size_v <= size) and np.all(size <= 81)
    monopole = clusters.y == SPECIES.index("monopole")
    pion = clusters.y == SPECIES.index("pion")
    assert charge[monopole].mean() > 5 * charge[pion].mean()  # monopoles ionise far more


def test_cms_events_classes_have_their_signatures() -> None:
    events, labels = generate_events(3000, np.random.default_rng(0))
    n_jets = (events.jets[..., 0] > 0).sum(1)
    n_leptons = (events.leptons[..., 0] > 0).sum(1)
    ttbar, wjets, dy = (labels == k for k in range(3))
    assert n_jets[ttbar].mean() > n_jets[wjets].mean() + 1.5
    assert (n_leptons[dy] == 2).mean() > 0.5 and (n_leptons[ttbar] == 1).all()
    assert events.met[dy, 0].mean() < events.met[ttbar, 0].mean()


@pytest.mark.parametrize("size", [32, 224])
def test_cms_event_image_draws_circles_with_radius_c_ln_e(size: int) -> None:
    """One muon at eta=0, phi=0 with E=100 GeV: a green circle of radius 10.5 ln(100) at 224 px."""
    leptons = np.zeros((1, 2, 4))
    leptons[0, 0] = [100.0, 0.0, 0.0, 2]  # pt, eta, phi, muon
    events = Events(leptons, np.zeros((1, 6, 4)), np.array([[1.0, 0.0]]))  # MET of 1 GeV: radius 0
    image = render_event_images(events, size, 10.5)[0]
    green = np.all(image == COLOURS["muon"], axis=-1)
    ys, xs = np.nonzero(green)
    radius = 10.5 * np.log(100.0) * size / 224
    distances = np.hypot(xs - size / 2, ys - size / 2)
    assert green.sum() > 10
    assert np.all(np.abs(distances - radius) < 1.5)
    assert image.dtype == np.uint8 and image.shape == (size, size, 3)
