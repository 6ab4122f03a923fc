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


def test_a_search_space_that_cannot_be_known_leaves_the_model_to_the_trials(compose) -> None:
    """A custom search space's function suggests keys the config cannot tell (``swept=None``)."""
    too_deep = compose("model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4")
    check_config(too_deep, swept=None)
    with pytest.raises(InvalidArchitectureError):
        check_config(too_deep)


def test_a_swept_key_the_model_reads_through_an_interpolation_leaves_it_to_the_trials(compose) -> None:
    cfg = compose("model=cnn", "dataset=belle2_pixels", "+depth=4")
    cfg.model.conv_blocks = "${depth}"  # 4 blocks pool 9x9 pixels away; a trial's depth may not
    check_config(cfg, swept=["depth"])
    with pytest.raises(InvalidArchitectureError):
        check_config(cfg, swept=["hydra.launcher.n_jobs"])  # a launcher's key feeds no interpolation of the model


def test_the_command_line_s_check_knows_a_custom_search_space(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hepsweep.app import check_composed, compose_config

    monkeypatch.chdir(tmp_path)
    fixed = ["model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4"]
    with pytest.raises(InvalidArchitectureError):
        check_composed(compose_config(fixed, with_hydra=True), [])
    custom = compose_config([*fixed, "hydra.sweeper.custom_search_space=my_space.suggest"], with_hydra=True)
    check_composed(custom, [])  # the function's keys decide each trial's network
