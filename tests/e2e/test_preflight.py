"""A network the dataset cannot feed (a CNN on feature vectors, pooling below 1x1, a ResNet-50 on
small images) is refused by the preflight, from the input shape the dataset declares, before
TensorFlow starts: one ``hepsweep: error:`` line, exit 2, TensorFlow never imported (Python's
own import log says so), nothing written. A sweep is refused only for what its fixed config
gets wrong: a search space that makes some trials impossible still runs, and those trials fail
alone, as config failures."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_hepsweep

pytestmark = pytest.mark.e2e

HEAVY = ("tensorflow", "keras")


def imported(stderr: str) -> set[str]:
    """The top-level packages Python's import log (``PYTHONPROFILEIMPORTTIME``) names."""
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in stderr.splitlines() if line.startswith("import time:")
    }


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["model=cnn", "dataset=hepmass"], ["model=cnn needs images", "vectors of shape (28,)", "use model=mlp"]),
        (["model=cnn", "dataset=belle2_features"], ["model=cnn needs images", "vectors of shape (6,)"]),
        (
            ["model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4"],
            ["model.conv_blocks=4", "shrinks the 9x9 input below 1x1 at block 4", "use model.conv_blocks<=3"],
        ),
        (["model=resnet50", "dataset=cms_images", "dataset.image_size=24"], ["model=resnet50 needs images of at least 32x32"]),
        (["model=resnet", "dataset=cms_events"], ["model=resnet needs images", "vectors of shape (39,)"]),
        # a sweep whose fixed config (every trial's) cannot build: refused before its study opens
        (["-m", "model=cnn", "dataset=hepmass", "optimizer.lr=choice(0.001,0.01)"], ["model=cnn needs images"]),
    ],
    ids=["cnn-on-vectors", "cnn-on-cluster-features", "pooling-below-1x1", "resnet50-on-small-images",
         "resnet-on-vectors", "sweep-with-an-impossible-fixed-config"],
)
def test_an_impossible_network_is_refused_before_tensorflow_starts(argv: list[str], fragments: list[str], tmp_path: Path) -> None:
    result = run_hepsweep(*argv, "train.epochs=1", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("hepsweep: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "hepsweep" in imported(result.stderr)  # the import log was on
    assert not imported(result.stderr) & set(HEAVY)
    assert not (tmp_path / "outputs").exists()  # no run folder, no study


@pytest.mark.slow
def test_a_search_space_with_impossible_trials_still_runs(tmp_path: Path) -> None:
    """The fixed config (2 conv blocks on 9x9 clusters) builds; the search space's 6 blocks do
    not: that trial fails as a config failure, and the study goes on."""
    result = run_hepsweep(
        "-m", "dataset=belle2_pixels", "model=cnn", "model.conv_blocks=choice(1,6)", "model.filters=4",
        "dataset.n_events=400", "train.epochs=1", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler=grid",
        "tracking=off", "train.tensorboard=false", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    study = optuna.load_study(study_name="hepsweep", storage=f"sqlite:///{tmp_path / 'outputs' / 'optuna.db'}")
    states = {t.params["model.conv_blocks"]: t for t in study.trials}
    assert states[1].state == TrialState.COMPLETE
    assert states[6].state == TrialState.FAIL and states[6].user_attrs["fail_kind"] == "config"
    assert "shrinks the 9x9 input below 1x1" in states[6].user_attrs["fail_reason"]
