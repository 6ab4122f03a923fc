"""A physicist's own ntuples: ROOT (TTree and RNTuple, every codec), HDF5, Parquet and CSV files
written here, read back through ``dataset=ntuple`` with features, selections, weights, jagged
collections and per-object rows; and every mistake a file can reveal, in one line."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
from omegaconf import DictConfig, open_dict

from hepsweep.app import compose_config
from hepsweep.data import load_dataset, raw_arrays
from hepsweep.errors import ConfigError, DataError, HepsweepError

JETS = [[50.0, 30.0, 20.0], [40.0], [], [70.0, 60.0]]
MET = [10.0, 20.0, 30.0, 40.0]
WEIGHT = [1.0, 2.0, -0.5, 0.0]


def events(offset: float = 0.0, n_copies: int = 1) -> dict[str, ak.Array | np.ndarray]:
    jets = ak.Array([[pt + offset for pt in event] for event in JETS] * n_copies)
    return {
        "Jet": ak.zip({"pt": jets, "eta": jets / 100.0}),
        "MET_pt": np.asarray(MET * n_copies) + offset,
        "weight": np.asarray(WEIGHT * n_copies),
    }


def write_root(path: Path, columns: dict, compression=None, tree: str = "Events") -> Path:
    with uproot.recreate(path, compression=compression) as file:
        file.mktree(tree, {k: ak.type(v) if isinstance(v, ak.Array) else v.dtype for k, v in columns.items()})
        file[tree].extend(columns)
    return path


def ntuple(tmp_path: Path, *overrides: str, **dataset: object) -> DictConfig:
    """The composed config of ``dataset=ntuple`` with ``overrides``; expressions go in as
    ``dataset`` keywords (set on the composed config, as a sweep file would give them)."""
    cfg = compose_config(["dataset=ntuple", "tracking=off", *overrides])
    with open_dict(cfg):
        cfg.dataset.cache_dir = str(tmp_path / "cache")
        cfg.output_root = str(tmp_path / "outputs")
        for key, value in dataset.items():
            cfg.dataset[key] = value
    return cfg


def classes(signal: Path | str, background: Path | str) -> str:
    return f"dataset.classes={{signal: ['{signal}'], background: ['{background}']}}"


@pytest.mark.parametrize("codec", ["ZLIB", "LZMA", "LZ4", "ZSTD"])
def test_a_root_ttree_is_read_with_every_codec(tmp_path: Path, codec: str) -> None:
    sig = write_root(tmp_path / "sig.root", events(), getattr(uproot, codec)(4))
    bkg = write_root(tmp_path / "bkg.root", events(offset=1.0), getattr(uproot, codec)(4))
    cfg = ntuple(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt, Jet_pt]", "dataset.objects={Jet: 2}",
                 "dataset.weight=weight")
    arrays = raw_arrays(cfg.dataset)
    assert arrays.columns == ["MET_pt", "Jet_pt_0", "Jet_pt_1"]
    expected = np.array([[10, 50, 30], [20, 40, 0], [30, 0, 0], [40, 70, 60]], float)
    np.testing.assert_allclose(arrays.x[:4], expected)  # signal first, padded with 0
    np.testing.assert_allclose(arrays.x[4:], np.where(expected > 0, expected + 1, 0))  # padding stays 0
    assert arrays.y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # classes in the config's order: signal is 0
    np.testing.assert_allclose(arrays.w, WEIGHT * 2)


def test_class_order_follows_the_config_and_signal_defaults_to_the_class_named_signal(tmp_path: Path) -> None:
    sig = write_root(tmp_path / "sig.root", events())
    bkg = write_root(tmp_path / "bkg.root", events(offset=1.0))
    cfg = ntuple(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt]", "dataset.split.train=0.5",
                 "dataset.split.val=0.25", "dataset.split.test=0.25")
    data = load_dataset(cfg.dataset)
    assert data.class_names == ["signal", "background"] and data.signal_class == 0
    assert data.train_weights is None and data.train.w is None  # no weights: trained as before


def test_an_rntuple_reads_like_a_ttree(tmp_path: Path) -> None:
    jets = ak.Array(JETS)
    path = tmp_path / "rn.root"
    with uproot.recreate(path) as file:
        file.mkrntuple("Events", {"Jet_pt": jets, "MET_pt": np.asarray(MET)})
    cfg = ntuple(tmp_path, f"dataset.path={path}", "dataset.features=[MET_pt, Jet_pt]",
                 "dataset.objects={Jet: 1}", label="MET_pt > 25")
    arrays = raw_arrays(cfg.dataset, cfg.dataset.path)
    np.testing.assert_allclose(arrays.x, [[10, 50], [20, 40], [30, 0], [40, 70]])
    assert arrays.y.tolist() == [0, 0, 1, 1]


def test_hdf5_parquet_and_csv_give_the_same_rows_as_root(tmp_path: Path) -> None:
    flat = {"MET_pt": np.asarray(MET), "nJet": np.asarray([len(j) for j in JETS], float), "weight": np.asarray(WEIGHT)}
    write_root(tmp_path / "a.root", {k: v for k, v in flat.items()})
    table = np.zeros(4, dtype=[("MET_pt", "f8"), ("nJet", "f8"), ("weight", "f8")])
    for k, v in flat.items():
        table[k] = v
    with h5py.File(tmp_path / "a.h5", "w") as file:
        file.create_dataset("events", data=table)
        file.create_dataset("other", data=np.zeros(3))
    pq.write_table(pa.table({**flat, "Jet_pt": pa.array(JETS)}), tmp_path / "a.parquet")
    (tmp_path / "a.csv").write_text("MET_pt,nJet,weight\n" + "\n".join(f"{m},{n},{w}" for m, n, w in zip(*flat.values())))
    rows = {}
    for ext in ("root", "h5", "parquet", "csv"):
        cfg = ntuple(tmp_path, f"dataset.path={tmp_path / ('a.' + ext)}", "dataset.weight=weight", label="nJet >= 2",
                     features=["MET_pt", "nJet", "MET_pt / (nJet + 1)"])
        arrays = raw_arrays(cfg.dataset, cfg.dataset.path)
        rows[ext] = (arrays.x, arrays.y, arrays.w)
    for ext in ("h5", "parquet", "csv"):
        for got, want in zip(rows[ext], rows["root"]):
            np.testing.assert_allclose(got, want)
    assert rows["root"][1].tolist() == [1, 0, 0, 1]


def test_parquet_lists_are_jagged_collections(tmp_path: Path) -> None:
    pq.write_table(pa.table({"MET_pt": MET, "Jet_pt": pa.array(JETS)}), tmp_path / "j.parquet")
    cfg = ntuple(tmp_path, f"dataset.path={tmp_path / 'j.parquet'}", "dataset.objects={Jet: 2}", "dataset.pad_value=-1",
                 label="num(Jet_pt) >= 2", features=["Jet_pt", "sum(Jet_pt)"])
    arrays = raw_arrays(cfg.dataset, cfg.dataset.path)
    assert arrays.columns == ["Jet_pt_0", "Jet_pt_1", "sum(Jet_pt)"]
    np.testing.assert_allclose(arrays.x, [[50, 30, 100], [40, -1, 40], [-1, -1, 0], [70, 60, 130]])


def test_one_row_per_object_broadcasts_event_values(tmp_path: Path) -> None:
    path = write_root(tmp_path / "jets.root", events())
    cfg = ntuple(tmp_path, f"dataset.path={path}", "dataset.per_object=Jet",
                 "dataset.features=[Jet_pt, Jet_eta, MET_pt]", "dataset.weight=weight", label="Jet_pt >= 45")
    arrays = raw_arrays(cfg.dataset, cfg.dataset.path)
    np.testing.assert_allclose(arrays.x[:, 0], [50, 30, 20, 40, 70, 60])
    np.testing.assert_allclose(arrays.x[:, 2], [10, 10, 10, 20, 40, 40])  # the event's MET, per jet
    np.testing.assert_allclose(arrays.w, [1, 1, 1, 2, 0, 0])
    assert arrays.y.tolist() == [1, 0, 0, 0, 1, 1]


def test_selection_streaming_and_the_cache_key(tmp_path: Path) -> None:
    sig = write_root(tmp_path / "sig.root", events(n_copies=50))
    bkg = write_root(tmp_path / "bkg.root", events(offset=1.0, n_copies=50))
    base = [classes(sig, bkg), "dataset.features=[MET_pt, nJet]"]
    whole = raw_arrays(ntuple(tmp_path, *base, selection="nJet >= 1").dataset)
    chunked = raw_arrays(ntuple(tmp_path / "other", *base, "dataset.step_size=7", selection="nJet >= 1").dataset)
    assert len(whole) == 2 * 150  # the events without jets are cut
    np.testing.assert_allclose(chunked.x, whole.x)
    cache = tmp_path / "cache"
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 1
    raw_arrays(ntuple(tmp_path, *base, selection="nJet >= 1").dataset)  # the same: read from the cache
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 1
    raw_arrays(ntuple(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt, nJet]", selection="nJet >= 2").dataset)
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2  # a new selection reads again


def test_weights_reach_every_split_and_training_balances_the_classes(tmp_path: Path) -> None:
    sig = write_root(tmp_path / "sig.root", {**events(n_copies=40), "weight": np.full(160, 0.01)})
    bkg = write_root(tmp_path / "bkg.root", {**events(offset=5.0, n_copies=40), "weight": np.full(160, 3.0)})
    cfg = ntuple(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt]", "dataset.weight=weight")
    data = load_dataset(cfg.dataset)
    for split in (data.train, data.val, data.test):
        assert split.w is not None and set(np.round(split.w, 3)) == {0.01, 3.0}
    w, y = data.train_weights, data.train.y
    assert w is not None and w[y == 0].sum() == pytest.approx(w[y == 1].sum(), rel=1e-5)
    assert w.mean() == pytest.approx(1.0, rel=1e-5)


def test_a_weighted_study_reports_weighted_figures_at_its_working_points(tmp_path: Path) -> None:
    from hepsweep.train.training import run

    rng = np.random.default_rng(3)
    n = 600

    def process(shift: float) -> dict:
        jets = ak.unflatten(rng.exponential(30, 3 * n) + 20 + shift, np.full(n, 3))
        return {"Jet": ak.zip({"pt": jets}), "MET_pt": rng.normal(40 + shift, 15, n), "weight": rng.uniform(0.5, 1.5, n)}

    sig = write_root(tmp_path / "sig.root", process(10.0))
    bkg = write_root(tmp_path / "bkg.root", process(0.0))
    cfg = ntuple(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt, Jet_pt]", "dataset.objects={Jet: 2}",
                 "dataset.weight=weight", "metrics.signal_efficiencies=[0.3,0.7]", "train.epochs=2",
                 "train.batch_size=64", "train.tensorboard=false", "train.progress=false", "device=cpu",
                 "objective=test_bkg_rejection_at_50pct_sig")
    result = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None)
    figures = result.metrics
    assert {"test_bkg_rejection_at_30pct_sig", "test_bkg_rejection_at_50pct_sig", "test_bkg_rejection_at_70pct_sig",
            "test_max_significance_improvement", "test_auc"} <= set(figures)
    assert figures["test_bkg_rejection_at_30pct_sig"] >= figures["test_bkg_rejection_at_70pct_sig"]
    assert result.value == figures["test_bkg_rejection_at_50pct_sig"]
    assert (tmp_path / "run" / "roc.png").is_file()


# --------------------------------------------------------------------------------------------
# Every mistake a file can reveal: one line, naming the fix


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    sig = write_root(tmp_path / "sig.root", events())
    bkg = write_root(tmp_path / "bkg.root", events(offset=1.0))
    return sig, bkg


def refused(tmp_path: Path, *overrides: str, **dataset: object) -> str:
    with pytest.raises(HepsweepError) as caught:
        load_dataset(ntuple(tmp_path, *overrides, **dataset).dataset)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_tree_lists_the_trees(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, classes(*two_files), "dataset.features=[MET_pt]", "dataset.tree=Event")
    assert "no table 'Event'" in message and "did you mean Events" in message


def test_a_missing_branch_names_the_closest(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, classes(*two_files), "dataset.features=[MET_ptt]")
    assert "no branch MET_ptt" in message and "did you mean MET_pt" in message


def test_a_jagged_feature_needs_objects(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, classes(*two_files), "dataset.features=[Jet_pt]")
    assert "dataset.objects={Jet: 4}" in message and "per_object=Jet" in message


def test_files_of_one_class_must_have_the_same_branches(tmp_path: Path, two_files) -> None:
    other = write_root(tmp_path / "bkg2.root", {"MET_pt": np.asarray(MET)})
    setting = f"dataset.classes={{signal: ['{two_files[0]}'], background: ['{two_files[1]}', '{other}']}}"
    message = refused(tmp_path, setting, "dataset.features=[MET_pt, nJet]")
    assert "differ" in message and "bkg2.root" in message and "nJet" in message


def test_a_class_with_no_events_after_the_selection(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, classes(*two_files), "dataset.features=[MET_pt]", selection="MET_pt > 1000")
    assert "class signal" in message and "no events" in message and "selection" in message


def test_nan_values_name_the_branch_and_the_rows(tmp_path: Path) -> None:
    sig = write_root(tmp_path / "sig.root", {"MET_pt": np.array([1.0, np.nan, np.inf, 4.0])})
    bkg = write_root(tmp_path / "bkg.root", {"MET_pt": np.array([1.0, 2.0])})
    message = refused(tmp_path, classes(sig, bkg), "dataset.features=[MET_pt]")
    assert "MET_pt is NaN or infinite in 2 rows" in message


def test_weights_that_sum_to_zero(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, classes(*two_files), "dataset.features=[MET_pt]", weight="weight * 0")
    assert "weights of class signal" in message and "sum to 0" in message


def test_a_label_that_yields_one_class(tmp_path: Path, two_files) -> None:
    message = refused(tmp_path, f"dataset.path={two_files[0]}", "dataset.features=[MET_pt]", label="MET_pt > 1000")
    assert "gives one class only" in message


@pytest.mark.parametrize("expression, words", [
    ("MET_pt >", "does not parse"),
    ("__import__('os').system('true')", "not allowed"),
    ("MET_pt.__class__", "attribute"),
])
def test_expressions_that_do_not_parse_or_reach_for_code(tmp_path: Path, two_files, expression: str, words: str) -> None:
    message = refused(tmp_path, classes(*two_files), features=[expression])
    assert words in message


def test_an_unknown_dataset_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="dataset.weight_column is not a key of dataset"):
        compose_config(["dataset=ntuple", "+dataset.weight_column=w"])
    with pytest.raises(ConfigError, match="is not a key of dataset"):
        compose_config(["+dataset.weight_column=w"])  # hepmass too: a weight key there was silently ignored


def test_an_unknown_format_and_a_pattern_matching_nothing(tmp_path: Path) -> None:
    (tmp_path / "events.xlsx").write_text("x")
    message = refused(tmp_path, f"dataset.path={tmp_path / 'events.xlsx'}", "dataset.features=[x]", label="x > 0")
    assert "cannot read 'events.xlsx'" in message and ".root" in message and ".parquet" in message
    message = refused(tmp_path, f"dataset.path={tmp_path / 'nothing_*.root'}", "dataset.features=[x]", label="x > 0")
    assert "matches no file" in message


def test_no_files_at_all_says_what_to_give(tmp_path: Path) -> None:
    message = refused(tmp_path, "dataset.features=[x]")
    assert "dataset.classes" in message and "example-ntuples" in message


def test_npz_weights_are_read_not_dropped(tmp_path: Path, compose) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 28)).astype(np.float32)
    y = (rng.random(200) < 0.5).astype(int)
    np.savez(tmp_path / "w.npz", x=x, y=y, w=np.where(y == 1, 0.1, 2.0))
    cfg = compose(f"dataset.path={tmp_path / 'w.npz'}")
    data = load_dataset(cfg.dataset)
    assert data.train.w is not None and data.train_weights is not None
    assert data.train_weights[data.train.y == 1].sum() == pytest.approx(data.train_weights[data.train.y == 0].sum(), rel=1e-5)
