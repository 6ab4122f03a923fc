"""NNDrone: the growth rule, growth without a jump in the loss, and the JSON read back by NumPy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hepsweep.drone.growth import GrowthRule
from hepsweep.drone.network import DroneTraining, build_drone, export_drone, grow, train_drone
from hepsweep.drone.reader import evaluate_drone


def test_growth_rule_needs_a_plateau_and_a_real_descent() -> None:
    rule = GrowthRule()
    assert rule.n == pytest.approx(-math.log(0.95) / 0.04)
    assert rule.sigma(0.01, 1.0) == pytest.approx(2.5 * 0.01)  # eq. (4): sigma(t=0) = 2.5 delta L
    assert not rule.update(1.0, 5)  # the first epoch only sets the reference loss
    assert not rule.update(0.5, 5)  # falling fast: delta = 1.0 > kappa
    assert not rule.update(0.45, 5)  # still falling: delta = 0.11
    assert rule.update(0.449, 5)  # flat (delta 0.002) and far below the reference 1.0: grow
    assert rule.last_growth_loss == 0.449 and rule.epochs_since_growth == 0
    assert not rule.update(0.4489, 6)  # flat, but no descent since the growth


def test_growth_rule_respects_the_maximum() -> None:
    rule = GrowthRule(max_hidden=5)
    rule.update(1.0, 5)
    assert not rule.update(0.5, 5) and not rule.update(0.4999, 5)


def test_bad_rule_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="kappa must be in"):
        GrowthRule(kappa=2.0)


def test_growing_adds_a_zero_node_and_keeps_the_outputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7)).astype(np.float32)
    small = build_drone(7, 5, 0.05)
    small.get_layer("output").set_weights([rng.normal(size=(5, 1)).astype(np.float32), np.array([0.3], np.float32)])
    bigger = grow(small, 0.05)
    assert bigger.get_layer("hidden").units == 6
    np.testing.assert_allclose(bigger.predict(x, verbose=0), small.predict(x, verbose=0), rtol=1e-6)
    assert small.count_params() == 7 * 5 + 5 + 5 + 1 and bigger.count_params() == 7 * 6 + 6 + 6 + 1


def test_a_drone_learns_a_smooth_classifier_and_its_json_matches_keras(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    teacher = 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3])))
    settings = DroneTraining(epochs=40, lr=0.5, batch_size=64, rule=GrowthRule(kappa=0.05))
    result = train_drone(x, teacher, settings, emit=lambda _: None)
    assert len(result.losses) == 40 and result.losses[-1] < 0.25 * result.losses[0]
    hidden = result.model.get_layer("hidden").units
    assert hidden == 5 + len(result.growth_epochs)
    exported = export_drone(result.model, {"kind": "standardize", "mean": [0.0] * 4, "std": [1.0] * 4}, {"run": "test"}, (4,))
    path = tmp_path / "drone.json"
    path.write_text(json.dumps(exported))
    reread = json.loads(path.read_text())
    numpy_out = evaluate_drone(reread, x[:200])
    keras_out = result.model.predict(x[:200], verbose=0)[:, 0]
    np.testing.assert_allclose(numpy_out, keras_out, atol=1e-5)
    assert reread["n_params"] == result.model.count_params() == 4 * hidden + hidden + hidden + 1
    assert [layer["activation"] for layer in reread["layers"]] == ["sigmoid", "linear"]
    raw = x[:10] * 2.0 + 1.0  # raw inputs are standardised with the stored constants
    exported["inputs"]["scaling"] = {"kind": "standardize", "mean": [1.0] * 4, "std": [2.0] * 4}
    np.testing.assert_allclose(evaluate_drone(exported, raw, raw_inputs=True), keras_out[:10], atol=1e-5)


def test_drone_command_distils_a_run_folder(compose, tmp_path) -> None:
    from hepsweep.drone.command import main
    from hepsweep.train import run

    cfg = compose("dataset.n_events=1200", "train.epochs=2", "model.units=16")
    folder = run(cfg, output_dir=tmp_path / "run", emit=lambda _: None).output_dir
    assert main([str(folder), "--epochs", "5", "--probes", "500", "--no-tracking"]) == 0
    summary = json.loads((folder / "drone" / "drone_summary.json").read_text())
    drone = json.loads((folder / "drone" / "drone.json").read_text())
    hidden = drone["layers"][0]["n_outputs"]
    assert summary["drone_params"] == 28 * hidden + hidden + hidden + 1
    assert summary["original_params"] > summary["drone_params"]
    assert (folder / "drone" / "roc_original_vs_drone.png").is_file() and (folder / "drone" / "drone_loss.png").is_file()


def test_drone_refuses_a_folder_without_a_checkpoint(tmp_path) -> None:
    from hepsweep.drone.command import main
    from hepsweep.errors import StudyError

    with pytest.raises(StudyError, match="holds no checkpoint/model.keras"):
        main([str(tmp_path)])
