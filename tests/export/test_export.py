"""Export: each format written, read back the way its users read it, and compared with Keras on
raw test events; the metadata; and every refusal in one line."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from hepsweep.data import load_dataset
from hepsweep.drone.reader import drone_outputs
from hepsweep.export import exporter
from hepsweep.export.exporter import Origin, export_run
from hepsweep.export.onnx_format import onnx_predictor, write_onnx
from hepsweep.errors import ExportError
from hepsweep.export.serving import Preprocessing, load_run, serving_model
from hepsweep.train import run
from hepsweep.train.evaluate import class_probabilities
from hepsweep.train.training import as_model_input

onnxruntime = pytest.importorskip("onnxruntime")

MODELS = {
    "mlp-hepmass": ("dataset=hepmass", "model=mlp", "model.units=16", "model.batch_norm=true"),
    "mlp-cms-3-classes": ("dataset=cms_events", "model=mlp", "model.units=16", "model.activation=gelu"),
    "cnn-ntd-pits": ("dataset=ntd_pits", "model=cnn", "model.filters=4"),
    "resnet-cms-images-3-classes": ("dataset=cms_images", "dataset.image_size=32", "model=resnet", "model.filters=4"),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small trained run folder per model family (trained once for the module)."""
    from hepsweep.app import compose_config
    from omegaconf import open_dict

    folders = {}
    for name, overrides in MODELS.items():
        cfg = compose_config(["tracking=off", "train.epochs=1", "train.tensorboard=false", "train.progress=false",
                              "train.plots=false", "device=cpu", *overrides])
        root = tmp_path_factory.mktemp(name)
        with open_dict(cfg):
            cfg.output_root = str(root / "outputs")
            cfg.dataset.n_events = 500
        folders[name] = run(cfg, output_dir=root / "run", emit=lambda _: None).output_dir
    return folders


def raw_test_events(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The run's test events in raw units and the checkpoint's probabilities on them, scaled by hand."""
    trained_run = load_run(folder)
    data = load_dataset(trained_run.config.dataset)
    raw = trained_run.preprocessing.unscale(np.asarray(data.test.x))
    if trained_run.preprocessing.kind == "standardize":  # the scaling every user would have had to write
        scaled = (raw - np.asarray(trained_run.preprocessing.mean, np.float32)) / np.asarray(trained_run.preprocessing.std, np.float32)
    else:
        scaled = as_model_input(np.asarray(data.test.x))
    return raw, class_probabilities(trained_run.network.predict(scaled, verbose=0))


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_and_keras_exports_take_raw_events_and_agree_with_keras(trained: dict[str, Path], tmp_path: Path, name: str) -> None:
    folder = trained[name]
    raw, expected = raw_test_events(folder)
    n_classes = expected.shape[1]

    result = export_run(load_run(folder), "onnx", tmp_path / "onnx", Origin("t", "study-a", 3, "val_auc", 0.75), events=None, timing=False)
    assert result.max_abs_diff <= 1e-5 and result.n_events == len(raw)
    predict, meta = onnx_predictor(tmp_path / "onnx" / "model.onnx")
    got = predict(raw)
    assert got.shape == (len(raw), n_classes)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities"] and session.get_inputs()[0].name == "events"
    assert meta["study"] == "study-a" and json.loads(meta["trial"]) == 3 and meta["objective"] == "val_auc"
    assert json.loads(meta["objective_value"]) == 0.75 and meta["hepsweep_version"]
    assert len(json.loads(meta["class_names"])) == n_classes
    features = json.loads(meta["features"])
    assert features is None if raw.ndim > 2 else len(features) == raw.shape[1]

    export_run(load_run(folder), "keras", tmp_path / "keras", Origin("t"), events=None, timing=False)
    reloaded = keras.models.load_model(tmp_path / "keras" / "model.keras")  # safe mode
    np.testing.assert_allclose(reloaded.predict(raw, verbose=0), expected, atol=1e-5)
    assert json.loads((tmp_path / "keras" / "metadata.json").read_text())["class_names"] == meta["class_names"]
    summary = json.loads((tmp_path / "keras" / exporter.SUMMARY).read_text())
    assert summary["format"] == "keras" and summary["checked_events"] == len(raw)


@pytest.mark.parametrize("name", ["mlp-hepmass", "mlp-cms-3-classes"])
def test_a_dense_network_exports_as_drone_json_that_numpy_reads(trained: dict[str, Path], tmp_path: Path, name: str) -> None:
    raw, expected = raw_test_events(trained[name])
    result = export_run(load_run(trained[name]), "drone", tmp_path, Origin("t"), events=None, timing=True)
    document = json.loads((tmp_path / "drone.json").read_text())
    outputs = drone_outputs(document, raw, raw_inputs=True)
    np.testing.assert_allclose(class_probabilities(outputs), expected, atol=1e-5)
    assert document["outputs"]["n"] == (1 if expected.shape[1] == 2 else expected.shape[1])
    assert document["inputs"]["features"] == load_run(trained[name]).preprocessing.features
    assert set(result.latency) == {"keras", "drone"} and all(set(row) == {1, 1024} for row in result.latency.values())


def test_batch_normalisation_is_folded_into_the_drone_layers(trained: dict[str, Path], tmp_path: Path) -> None:
    network = load_run(trained["mlp-hepmass"]).network
    assert any(type(layer).__name__ == "BatchNormalization" for layer in network.layers)
    export_run(load_run(trained["mlp-hepmass"]), "drone", tmp_path, Origin("t"), events=50, timing=False)
    document = json.loads((tmp_path / "drone.json").read_text())
    dense = [layer for layer in network.layers if type(layer).__name__ == "Dense"]
    assert len(document["layers"]) == len(dense)


def test_the_drone_format_refuses_a_convolution_by_name(trained: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"layer 'conv2d\w*' \(Conv2D\).*--format onnx"):
        export_run(load_run(trained["cnn-ntd-pits"]), "drone", tmp_path / "out", Origin("t"), events=50, timing=False)
    assert not (tmp_path / "out" / "drone.json").exists()


def test_a_disagreeing_export_is_not_written(trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporter, "TOLERANCE", -1.0)  # any difference at all is now too large
    with pytest.raises(ExportError, match="disagrees with Keras by up to .*nothing was written"):
        export_run(load_run(trained["mlp-hepmass"]), "onnx", tmp_path, Origin("t"), events=50, timing=False)
    assert list(tmp_path.iterdir()) == []


def test_onnx_refuses_a_layer_onnx_cannot_express_and_names_it(tmp_path: Path) -> None:
    inputs = keras.Input((3,), name="inputs")
    hidden = keras.layers.Activation("celu", name="odd_activation")(keras.layers.Dense(4)(inputs))
    network = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden), name="odd")
    model = serving_model(network, Preprocessing("standardize", mean=[0.0] * 3, std=[1.0] * 3))
    with pytest.raises(ExportError, match=r"cannot handle layer 'odd_activation' \(Activation\).*Expm1"):
        write_onnx(model, tmp_path / "model.onnx", {})
    assert not (tmp_path / "model.onnx").exists()


def test_unknown_format_and_unwritable_folder_are_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'tflite'; use one of onnx, keras, drone"):
        export_run(load_run(trained["mlp-hepmass"]), "tflite", tmp_path, Origin("t"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="cannot write the export folder .*a-file/out"):
        export_run(load_run(trained["mlp-hepmass"]), "onnx", blocker / "out", Origin("t"))


def test_a_folder_without_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="holds no checkpoint/model.keras; .*train.checkpoint=true"):
        load_run(tmp_path)


def test_a_network_trained_in_mixed_precision_exports_in_float32(tmp_path: Path) -> None:
    from hepsweep.export.serving import float32_network

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((4,), name="inputs")
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        mixed = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(hidden))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    network = float32_network(mixed)
    assert [layer.dtype_policy.name for layer in network.layers] == ["float32"] * 3
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    np.testing.assert_allclose(network.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=2e-3)  # float16 arithmetic
    model = serving_model(network, Preprocessing("identity"))
    write_onnx(model, tmp_path / "model.onnx", {})
    predict, _ = onnx_predictor(tmp_path / "model.onnx")
    np.testing.assert_allclose(predict(x)[:, 1], network.predict(x, verbose=0)[:, 0], atol=1e-6)


def test_a_weighted_ntuple_model_exports_with_its_named_columns(tmp_path: Path) -> None:
    """Your own ntuples: expression features, padded jets, per-event weights in training."""
    pytest.importorskip("uproot")
    from omegaconf import open_dict

    from hepsweep.app import compose_config
    from hepsweep.data.ntuple_example import write_example_ntuples

    files = write_example_ntuples(tmp_path / "ntuples", 400)
    cfg = compose_config(["tracking=off", "train.epochs=1", "train.tensorboard=false", "train.progress=false",
                          "train.plots=false", "device=cpu", "dataset=ntuple", "model=mlp", "model.units=8"])
    with open_dict(cfg):
        cfg.output_root = str(tmp_path / "outputs")
        cfg.dataset.classes = {"signal": [str(files[0])], "background": [str(f) for f in files[1:]]}
        cfg.dataset.tree = "Events"
        cfg.dataset.features = ["MET_pt", "nJet", "sum(Jet_pt)", "Jet_pt", "Jet_btag"]
        cfg.dataset.objects = {"Jet": 3}
        cfg.dataset.weight = "weight"
        cfg.dataset.balance_classes = True
    folder = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None).output_dir
    trained = load_run(folder)
    assert "sum(Jet_pt)" in trained.preprocessing.features and "Jet_pt_2" in trained.preprocessing.features
    raw, expected = raw_test_events(folder)
    for fmt in ("onnx", "drone"):
        result = export_run(trained, fmt, tmp_path / fmt, Origin("ntuple"), events=None, timing=False)
        assert result.max_abs_diff <= 1e-5
    predict, meta = onnx_predictor(tmp_path / "onnx" / "model.onnx")
    np.testing.assert_allclose(predict(raw), expected, atol=1e-5)
    assert json.loads(meta["features"]) == trained.preprocessing.features

    import mlflow
    import pandas as pd

    from hepsweep.export.mlflow_model import log_model
    from hepsweep.tracking import store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logged = log_model(trained, raw, uri, store.create_run(uri, "ntuple", "run"))
    frame = pd.DataFrame(raw.astype(np.float64), columns=trained.preprocessing.features)
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(logged.uri)
    np.testing.assert_allclose(np.asarray(model.predict(frame[frame.columns[::-1]])), expected, atol=1e-5)


def test_the_check_reads_the_test_events_chunk_by_chunk(trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    trained_run = load_run(trained["cnn-ntd-pits"])
    scaled = exporter.stored_test_events(trained_run, None)
    model = serving_model(trained_run.network, trained_run.preprocessing)
    calls: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.asarray(model.predict_on_batch(x))

    whole = exporter.max_difference(trained_run, scaled, predict)
    monkeypatch.setattr(exporter, "CHUNK_BYTES", 40 * 40 * 4 * 16)  # 16 images of 40x40
    chunked = exporter.max_difference(trained_run, scaled, predict)
    assert calls[0] == len(scaled) and calls[1:] == [16] * (len(scaled) // 16) + ([len(scaled) % 16] if len(scaled) % 16 else [])
    assert chunked == pytest.approx(whole, abs=1e-6) and chunked <= 1e-5


def test_column_names_survive_the_data_cache(compose) -> None:
    """A run whose events come from the cache still names its input columns in preprocessing.json."""
    cfg = compose("dataset=hepmass", "dataset.n_events=300")
    first, second = load_dataset(cfg.dataset), load_dataset(cfg.dataset)  # the second read hits the cache
    assert first.feature_names == second.feature_names == [f"f{i}" for i in range(27)] + ["mass"]
    assert second.preprocessing["features"] == second.feature_names


def test_the_mlflow_model_takes_columns_by_name_unless_keras_cannot_name_them() -> None:
    from hepsweep.export.mlflow_model import by_name

    assert by_name(["MET_pt", "sum(Jet_pt)", "Jet_pt_0"])
    assert not by_name(["MET_pt", "HT/MET_pt"])  # Keras refuses '/' in a name: columns by position
    assert not by_name(None) and not by_name(["a", "a"])


def test_a_run_written_before_a_dataset_key_existed_still_exports(trained: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from omegaconf import OmegaConf

    old = tmp_path / "old-run"
    shutil.copytree(trained["mlp-hepmass"], old)
    config = OmegaConf.load(old / "config.yaml")
    del config.dataset["negative_weights"]  # a key newer than the run
    OmegaConf.save(config, old / "config.yaml")
    result = export_run(load_run(old), "onnx", tmp_path / "out", Origin("old"), events=50, timing=False)
    assert result.max_abs_diff <= 1e-5
