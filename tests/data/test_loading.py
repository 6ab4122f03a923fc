"""Real file formats, the cache, splits, scaling and the tf.data pipeline."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hepsweep.data import load_dataset, raw_arrays, readers
from hepsweep.data.cache import default_cache_dir
from hepsweep.data.hepmass import N_FEATURES, generate_hepmass
from hepsweep.errors import DataError

HEADER = "# label," + ",".join(f"f{i}" for i in range(N_FEATURES)) + ",mass\n"


def write_hepmass_csv(path: Path, n: int, seed: int = 0, gz: bool = False) -> np.ndarray:
    """A small file in the real HEPMASS format; returns its rows."""
    events = generate_hepmass(n, [500.0, 1000.0], np.random.default_rng(seed))
    rows = np.column_stack([events.y, events.x])
    text = HEADER + "\n".join(",".join(f"{v:.6g}" for v in row) for row in rows) + "\n"
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return rows


@pytest.mark.parametrize("gz", [False, True])
def test_hepmass_csv_is_streamed_in_chunks(tmp_path: Path, compose, monkeypatch, gz: bool) -> None:
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", 37)  # many chunks, one partial
    path = tmp_path / ("train.csv.gz" if gz else "train.csv")
    rows = write_hepmass_csv(path, 400, gz=gz)
    cfg = compose(f"dataset.path={path}")
    events = raw_arrays(cfg.dataset, cfg.dataset.path)
    assert events.x.shape == (400, N_FEATURES + 1)
    np.testing.assert_allclose(events.x, rows[:, 1:], rtol=1e-5)
    np.testing.assert_array_equal(events.y, rows[:, 0].astype(int))


def test_max_events_reads_the_head_of_the_file(tmp_path: Path, compose) -> None:
    path = tmp_path / "train.csv"
    write_hepmass_csv(path, 300)
    cfg = compose(f"dataset.path={path}", "dataset.max_events=120")
    assert len(raw_arrays(cfg.dataset, cfg.dataset.path)) == 120


def test_the_cache_is_memory_mapped_and_follows_the_file(tmp_path: Path, compose, monkeypatch) -> None:
    cache_dir = tmp_path / "cache"  # this test's own cache, not the session's
    monkeypatch.setenv("HEPSWEEP_CACHE", str(cache_dir))
    assert default_cache_dir() == cache_dir
    path = tmp_path / "train.csv"
    rows = write_hepmass_csv(path, 200)
    cfg = compose(f"dataset.path={path}")
    assert not cfg.dataset.cache_dir  # so the environment variable decides
    first = raw_arrays(cfg.dataset, cfg.dataset.path)
    (entry,) = [p for p in cache_dir.iterdir() if not p.name.startswith(".")]  # one entry, no staging left
    assert entry.name.startswith("hepmass-") and {p.name for p in entry.iterdir()} == {"meta.json", "x.bin", "y.bin"}
    again = raw_arrays(cfg.dataset, cfg.dataset.path)
    assert isinstance(again.x, np.memmap) and Path(again.x.filename) == entry / "x.bin"
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_allclose(again.x, rows[:, 1:], rtol=1e-5)
    rows = write_hepmass_csv(path, 250, seed=5)  # the file changes: the cache entry must too
    changed = raw_arrays(cfg.dataset, cfg.dataset.path)
    assert len(changed) == 250
    np.testing.assert_allclose(changed.x, rows[:, 1:], rtol=1e-5)
    assert len([p for p in cache_dir.iterdir() if not p.name.startswith(".")]) == 2


def test_an_empty_cell_is_reported(tmp_path: Path, compose) -> None:
    path = tmp_path / "hole.csv"
    write_hepmass_csv(path, 10)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[7] = ""
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 4, column 'f6' is empty"):
        load_dataset(compose(f"dataset.path={path}").dataset)


def test_wrong_column_count_names_the_expected_layout(tmp_path: Path, compose) -> None:
    path = tmp_path / "short.csv"
    path.write_text("label,a,b\n1,2,3\n0,1,1\n")
    cfg = compose(f"dataset.path={path}")
    with pytest.raises(DataError, match=r"has 3 columns but 29 are expected \(label, f0..f26, mass\)"):
        load_dataset(cfg.dataset)


@pytest.mark.parametrize("chunk_rows", [4, 250_000])  # the bad cell in a later block, or the first
def test_non_numeric_cell_names_line_and_column(tmp_path: Path, compose, monkeypatch, chunk_rows: int) -> None:
    monkeypatch.setattr(readers, "CSV_CHUNK_ROWS", chunk_rows)
    path = tmp_path / "bad.csv"
    rows = write_hepmass_csv(path, 20)
    lines = path.read_text().splitlines()
    good_lines = list(lines)
    cells = lines[5].split(",")
    cells[3] = "oops"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    cfg = compose(f"dataset.path={path}")
    with pytest.raises(DataError, match=r"line 6, column 'f2' holds 'oops', not a number"):
        load_dataset(cfg.dataset)
    path.write_text("\n".join(good_lines) + "\n")  # repaired: every block is read, in order
    events = raw_arrays(cfg.dataset, cfg.dataset.path)
    np.testing.assert_allclose(events.x, rows[:, 1:], rtol=1e-5)
    np.testing.assert_array_equal(events.y, rows[:, 0].astype(int))


def test_missing_file_says_which_key_to_fix(tmp_path: Path, compose) -> None:
    cfg = compose(f"dataset.path={tmp_path / 'nope.csv'}")
    with pytest.raises(DataError, match="does not exist; check dataset.path"):
        load_dataset(cfg.dataset)


def test_unreadable_gzip_is_reported(tmp_path: Path, compose) -> None:
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    cfg = compose(f"dataset.path={path}")
    with pytest.raises(DataError, match="cannot read 'broken.csv.gz'"):
        load_dataset(cfg.dataset)


def test_wrong_extension_is_refused(tmp_path: Path, compose) -> None:
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1")
    cfg = compose(f"dataset.path={path}")
    with pytest.raises(DataError, match=r"cannot read 'events.parquet'; give a file ending in .csv or .csv.gz or .npz"):
        load_dataset(cfg.dataset)


def test_separate_test_file_stays_untouched(tmp_path: Path, compose) -> None:
    train, test = tmp_path / "all_train.csv", tmp_path / "all_test.csv.gz"
    write_hepmass_csv(train, 500, seed=1)
    test_rows = write_hepmass_csv(test, 150, seed=2, gz=True)
    cfg = compose(f"dataset.path={train}", f"dataset.test_path={test}")
    data = load_dataset(cfg.dataset)
    assert len(data.test) == 150
    np.testing.assert_array_equal(data.test.y, test_rows[:, 0].astype(int))
    assert len(data.train) + len(data.val) == 500
    assert abs(len(data.train) / 500 - 0.7 / 0.85) < 0.01


def write_numbered_hepmass_npz(path: Path, n: int, seed: int = 0, offset: float = 0.0) -> np.ndarray:
    """HEPMASS events in an .npz whose column f0 holds the row number (each row can be found
    again after splitting and scaling) and every other column is shifted by ``offset``."""
    events = generate_hepmass(n, [500.0, 1000.0], np.random.default_rng(seed))
    x = events.x.astype(np.float64)
    x[:, 1:] += offset
    x[:, 0] = np.arange(n)
    np.savez(path, x=x.astype(np.float32), y=events.y)
    return x


def row_numbers(x: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Undo the standardisation of column f0 to read back each event's row number."""
    return np.rint(x[:, 0] * preprocessing["std"][0] + preprocessing["mean"][0]).astype(int)


def test_scaling_is_fitted_on_the_training_split_only(tmp_path: Path, compose) -> None:
    # the untouched test file sits 1000 above the training file in every feature, so a scaler
    # fitted on all events would have means near 500, one fitted on training events near 0
    train_path, test_path = tmp_path / "train.npz", tmp_path / "test.npz"
    raw = write_numbered_hepmass_npz(train_path, 1000, seed=1)
    raw_test = write_numbered_hepmass_npz(test_path, 1000, seed=2, offset=1000.0)
    cfg = compose(f"dataset.path={train_path}", f"dataset.test_path={test_path}")
    data = load_dataset(cfg.dataset)
    rows = row_numbers(data.train.x, data.preprocessing)
    assert len(set(rows)) == len(data.train) < 1000  # the training events, and only them
    training = raw[np.sort(rows)].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(data.preprocessing["mean"], training.mean(axis=0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(data.preprocessing["std"], training.std(axis=0), rtol=1e-4, atol=1e-3)
    validation = np.setdiff1d(np.arange(1000), rows)  # not fitted on the validation events either
    assert np.abs(raw[validation].mean(axis=0) - training.mean(axis=0))[0] > 1.0
    np.testing.assert_allclose(data.train.x.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(data.train.x.std(axis=0), 1.0, atol=1e-3)
    expected_test = (raw_test.astype(np.float32) - training.mean(axis=0)) / training.std(axis=0)
    np.testing.assert_allclose(data.test.x, expected_test, rtol=1e-3, atol=1e-3)  # scaled with training statistics
    assert np.all(data.test.x[:, 1:].mean(axis=0) > 3.0)  # so the shifted test file stays far from 0
    assert 500 <= data.preprocessing["mean"][-1] <= 1000  # the raw mass column, training mean


def test_splits_are_disjoint_and_complete(tmp_path: Path, compose) -> None:
    path = tmp_path / "numbered.npz"
    raw = write_numbered_hepmass_npz(path, 1000)
    cfg = compose(f"dataset.path={path}", "dataset.split.train=0.6", "dataset.split.val=0.2", "dataset.split.test=0.2")
    data = load_dataset(cfg.dataset)
    assert (len(data.train), len(data.val), len(data.test)) == (600, 200, 200)
    splits = {name: getattr(data, name) for name in ("train", "val", "test")}
    rows = {name: row_numbers(part.x, data.preprocessing) for name, part in splits.items()}
    for name, numbers in rows.items():
        assert len(set(numbers)) == len(numbers), f"{name} holds an event twice"
    assert not set(rows["train"]) & set(rows["val"])
    assert not set(rows["train"]) & set(rows["test"])
    assert not set(rows["val"]) & set(rows["test"])
    assert sorted(np.concatenate(list(rows.values()))) == list(range(1000))  # every event, once
    assert not np.array_equal(np.sort(rows["train"]), np.arange(600))  # shuffled, not the file's head
    mean, std = np.asarray(data.preprocessing["mean"]), np.asarray(data.preprocessing["std"])
    for name, part in splits.items():  # each event keeps its own features and label
        np.testing.assert_allclose(part.x * std + mean, raw[rows[name]], rtol=1e-4, atol=1e-2)
        np.testing.assert_array_equal(part.y, np.load(path)["y"][rows[name]])


def test_npz_images_and_missing_arrays(tmp_path: Path, compose) -> None:
    good, bad = tmp_path / "pits.npz", tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    np.savez(good, x=rng.random((80, 40, 40, 1)).astype(np.float32), y=rng.integers(0, 2, 80))
    np.savez(bad, images=np.zeros((3, 4)))
    data = load_dataset(compose("dataset=ntd_pits", f"dataset.path={good}").dataset)
    assert data.input_shape == (40, 40, 1) and data.is_image
    with pytest.raises(DataError, match=r"lacks array\(s\) \['x', 'y'\]"):
        load_dataset(compose("dataset=ntd_pits", f"dataset.path={bad}").dataset)


def test_labels_outside_the_classes_are_refused(tmp_path: Path, compose) -> None:
    path = tmp_path / "pits.npz"
    np.savez(path, x=np.zeros((40, 8, 8, 1), np.float32), y=np.full(40, 3))
    with pytest.raises(DataError, match="labels outside 0..1"):
        load_dataset(compose("dataset=ntd_pits", f"dataset.path={path}").dataset)


def test_a_file_with_one_class_only_is_refused(tmp_path: Path, compose) -> None:
    path = tmp_path / "pits.npz"
    np.savez(path, x=np.zeros((40, 8, 8, 1), np.float32), y=np.ones(40, np.int64))
    with pytest.raises(DataError, match="holds events of class 1 only; a classifier needs events of at least two"):
        load_dataset(compose("dataset=ntd_pits", f"dataset.path={path}").dataset)


def test_belle2_text_format(tmp_path: Path, compose) -> None:
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 5, 60), rng.random((60, 81)) * 5])
    path = tmp_path / "clusters.txt"
    np.savetxt(path, rows, fmt="%.4f")
    data = load_dataset(compose("dataset=belle2_pixels", f"dataset.path={path}").dataset)
    assert data.input_shape == (9, 9, 1) and data.n_classes == 5
    features = load_dataset(
        compose("dataset=belle2_features", f"dataset.path={path}", "dataset.classes=[background,monopole,pion,proton,deuteron]").dataset
    )
    assert features.input_shape == (6,)
    pair = load_dataset(compose("dataset=belle2_features", f"dataset.path={path}").dataset)  # background vs deuteron
    kept = np.isin(rows[:, 0], (0, 4)).sum()
    assert len(pair.train) + len(pair.val) + len(pair.test) == kept
    assert set(np.unique(pair.train.y)) <= {0, 1} and pair.class_names == ["background", "deuteron"]
    wrong = tmp_path / "wrong.txt"
    np.savetxt(wrong, rows[:, :40])
    with pytest.raises(DataError, match="rows have 40 values but 82 are expected"):
        load_dataset(compose("dataset=belle2_pixels", f"dataset.path={wrong}").dataset)


def test_cms_object_level_npz_is_rendered(tmp_path: Path, compose) -> None:
    from hepsweep.data.cms import generate_events

    events, labels = generate_events(90, np.random.default_rng(0))
    path = tmp_path / "events.npz"
    np.savez(path, leptons=events.leptons, jets=events.jets, met=events.met, y=labels)
    images = load_dataset(compose("dataset=cms_images", "dataset.image_size=32", f"dataset.path={path}").dataset)
    assert images.input_shape == (32, 32, 3) and images.train.x.dtype == np.uint8
    features = load_dataset(compose("dataset=cms_events", f"dataset.path={path}").dataset)
    assert features.input_shape == (39,) and features.class_names == ["ttbar", "wjets", "drell_yan"]


def test_pipeline_batches_scales_bytes_and_one_hot_encodes(compose) -> None:
    from hepsweep.data.pipeline import make_dataset

    data = load_dataset(compose("dataset=cms_images", "dataset.image_size=24", "dataset.n_events=200").dataset)
    x, y = next(iter(make_dataset(data.train, 3, batch_size=16, shuffle=True, seed=1)))
    assert x.shape == (16, 24, 24, 3) and float(x.numpy().max()) <= 1.0
    assert y.shape == (16, 3) and np.allclose(y.numpy().sum(axis=1), 1.0)
    binary = load_dataset(compose("dataset.n_events=300").dataset)
    _, yb = next(iter(make_dataset(binary.train, 2, batch_size=8)))
    assert yb.shape == (8, 1)


def test_greyscale_images_without_a_channel_axis(tmp_path: Path, compose) -> None:
    path = tmp_path / "pits.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((60, 40, 40)).astype(np.float32), y=rng.integers(0, 2, 60))
    assert load_dataset(compose("dataset=ntd_pits", f"dataset.path={path}").dataset).input_shape == (40, 40, 1)
