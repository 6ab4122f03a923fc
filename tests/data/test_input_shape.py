"""The input shape a dataset family declares from its config alone (``DatasetFamily.input_shape``,
what the preflight checks a model against before TensorFlow starts) is the shape loading gives:
for every option of ``conf/dataset/`` and the keys that change the shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import open_dict

from hepsweep.data import family_of, load_dataset
from hepsweep.data.ntuple_example import write_example_ntuples

REPO = Path(__file__).resolve().parents[2]
OPTIONS = sorted(p.stem for p in (REPO / "conf" / "dataset").glob("*.yaml"))
# the keys of an option that change its shape (each option also runs as it is)
VARIANTS: dict[str, list[list[str]]] = {
    "ntd_pits": [["dataset.image_size=24"]],
    "cms_images": [["dataset.image_size=32"]],
}
EXAMPLE_FEATURES = "dataset.features=[MET_pt, Jet_pt, Jet_btag]"


def _cases() -> list[tuple[str, list[str]]]:
    cases = []
    for option in OPTIONS:
        if option == "ntuple":
            cases.append(("ntuple", [EXAMPLE_FEATURES, "dataset.per_object=Jet"]))
            continue
        cases += [(option, []), *((option, v) for v in VARIANTS.get(option, []))]
    return cases


@pytest.fixture(scope="module")
def example_ntuples(tmp_path_factory: pytest.TempPathFactory) -> str:
    signal, ttbar, wjets = write_example_ntuples(tmp_path_factory.mktemp("ntuples"), n_events=40)
    return f"dataset.classes={{signal: ['{signal}'], background: ['{ttbar}', '{wjets}']}}"


@pytest.mark.parametrize("option, overrides", _cases(), ids=lambda v: v if isinstance(v, str) else " ".join(v) or "as-is")
def test_the_declared_shape_is_the_loaded_one(option: str, overrides: list[str], compose, example_ntuples: str) -> None:
    files = [example_ntuples] if option == "ntuple" else []
    cfg = compose(f"dataset={option}", *files, *overrides)
    with open_dict(cfg):
        cfg.dataset.n_events = 60
    declared = family_of(cfg.dataset).input_shape(cfg.dataset)
    assert declared is not None
    assert declared == load_dataset(cfg.dataset).input_shape


def test_every_option_is_covered() -> None:
    assert {option for option, _ in _cases()} == set(OPTIONS)


def test_only_the_data_tells_the_shape_of_a_users_files(compose, example_ntuples: str, tmp_path: Path) -> None:
    padded = compose("dataset=ntuple", example_ntuples, EXAMPLE_FEATURES, "dataset.objects={Jet: 4}")
    assert family_of(padded.dataset).input_shape(padded.dataset) is None  # Jet_pt: a collection, or one value?
    assert load_dataset(padded.dataset).input_shape == (9,)
    own = compose("dataset=hepmass", f"dataset.path={tmp_path / 'all_train.csv'}")
    assert family_of(own.dataset).input_shape(own.dataset) is None
