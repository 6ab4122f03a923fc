"""The issue's "done when": after a quickstart sweep with ``tracking.register_as``, the champion
is the best trial and predicts on raw features through ``mlflow.pyfunc``; a resumed study moves
it when the best changes; ``hepsweep export quickstart`` writes an ONNX model that ONNX Runtime
runs and that agrees with Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.conftest import run_hepsweep

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMOKE = ["-m", "sweep=quickstart", "dataset.n_events=600", "train.epochs=2", "hydra.sweeper.n_trials=3",
         "tracking.register_as=hep-classifier"]


def bests_so_far(study: optuna.Study) -> list[int]:
    """The complete trials that were the study's best when they finished (trials run one at a time)."""
    found, best = [], -np.inf
    for trial in sorted(study.trials, key=lambda t: t.number):
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value > best:
            found.append(trial.number)
            best = trial.value
    return found


def test_quickstart_registers_its_champion_and_exports_onnx(tmp_path: Path) -> None:
    import mlflow
    import onnxruntime
    from mlflow.tracking import MlflowClient

    result = run_hepsweep(*SMOKE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    storage = f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}"
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")

    def registered() -> tuple[list[str], str]:
        study = optuna.load_study(study_name="quickstart", storage=storage)
        versions = sorted(client.search_model_versions("name = 'hep-classifier'"), key=lambda v: int(v.version))
        champion = client.get_model_version_by_alias("hep-classifier", "champion")
        assert champion.tags["hepsweep.trial"] == str(study.best_trial.number)
        assert [v.tags["hepsweep.trial"] for v in versions] == [str(n) for n in bests_so_far(study)]
        return [v.tags["hepsweep.trial"] for v in versions], champion.tags["hepsweep.trial"]

    registered()
    resumed = run_hepsweep("resume", "quickstart", "--n-trials", "6", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    registered()  # one version per trial that became the best, the alias on the last of them

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/hep-classifier@champion")
    features = model.metadata.metadata["features"]
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(4, len(features))), columns=features)
    probabilities = np.asarray(model.predict(frame))
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    exported = run_hepsweep("export", "quickstart", "--format", "onnx", "-o", "onnx", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "max abs difference to Keras" in exported.stdout and "onnxruntime" in exported.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_probabilities = session.run(None, {"events": frame.to_numpy(np.float32)})[0]
    np.testing.assert_allclose(onnx_probabilities, probabilities, atol=1e-5)
