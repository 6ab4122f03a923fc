"""The preflight's model check: against the input shape the dataset declares, and, in a sweep,
only when no key of the search space may change the network or the shape."""

from __future__ import annotations

import pytest

from hepsweep.errors import InvalidArchitectureError
from hepsweep.train.preflight import check_config


def test_the_model_is_checked_against_the_declared_shape(compose) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"vectors of shape \(28,\)"):
        check_config(compose("model=cnn", "dataset=hepmass"))
    with pytest.raises(InvalidArchitectureError, match="shrinks the 24x24 input below 1x1 at block 5"):
        check_config(compose("model=cnn", "dataset=ntd_pits", "dataset.image_size=24", "model.conv_blocks=5"))
    check_config(compose("model=cnn", "dataset=ntd_pits", "dataset.image_size=24", "model.conv_blocks=4"))


@pytest.mark.parametrize("key", ["optimizer.lr", "train.batch_size", "train.seed", "hydra.launcher.n_jobs"])
def test_a_sweep_of_other_keys_keeps_the_check(compose, key: str) -> None:
    with pytest.raises(InvalidArchitectureError, match="needs images"):
        check_config(compose("model=cnn", "dataset=hepmass"), swept=[key])


@pytest.mark.parametrize("key", ["model.conv_blocks", "model", "dataset", "dataset.image_size", "approach", "optimizer", "+extra"])
def test_a_sweep_that_may_change_the_network_leaves_it_to_the_trials(compose, key: str) -> None:
    check_config(compose("model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4"), swept=[key])


@pytest.mark.parametrize("key", ["model.conv_blocks", "model.filters", "+model.extra"])
def test_a_sweep_of_the_family_s_own_keys_still_needs_its_kind_of_input(compose, key: str) -> None:
    """Whatever values a CNN's own keys take, it cannot take vectors; a trial's pooling depth is
    the trial's to fail on."""
    with pytest.raises(InvalidArchitectureError, match="model=cnn needs images"):
        check_config(compose("model=cnn", "dataset=hepmass"), swept=[key])
    check_config(compose("model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4"), swept=[key])


def test_a_users_files_leave_the_check_to_the_run(compose, tmp_path) -> None:
    check_config(compose("model=cnn", "dataset=hepmass", f"dataset.path={tmp_path / 'train.csv'}"))
