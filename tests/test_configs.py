"""Every config group option and every ready-made study composes; the help lists real options;
the configs ship inside the wheel so a plain ``pip install .`` finds them from any folder."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hepsweep._resources import config_dir, sweeps_dir
from hepsweep.app import compose_config

GROUPS = ("dataset", "model", "optimizer", "device", "tracking", "train")


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group: str) -> None:
    options = sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))
    assert options
    for option in options:
        node = compose_config([f"{group}={option}"])[group]
        schema = OmegaConf.get_type(node)  # typed by its schema: a misspelt key is refused
        assert dataclasses.is_dataclass(schema), f"{group}={option} has no schema"
        assert set(node.keys()) == {f.name for f in dataclasses.fields(schema)}, f"{group}={option}"


def test_every_sweep_composes_with_the_hepsweep_sweeper() -> None:
    sweeps = sorted(p.stem for p in sweeps_dir().glob("*.yaml"))
    assert "quickstart" in sweeps
    for name in sweeps:
        text = (sweeps_dir() / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_"), name
        cfg = compose_config([f"sweep={name}"])
        assert cfg.dataset.name


@pytest.mark.parametrize("name", sorted(p.stem for p in sweeps_dir().glob("*.yaml")))
def test_every_sweep_parses_its_params_into_a_search_space_that_composes(name: str) -> None:
    """What the sweeper does before its first trial: settings, search space, sampler, pruner,
    and the first trial's overrides composed with the sweep (a misspelt key fails here)."""
    from omegaconf import OmegaConf

    from hepsweep.sweep.samplers import make_pruner, study_sampler
    from hepsweep.sweep.search_space import parse_search_space
    from hepsweep.sweep.settings import SweepSettings

    node = OmegaConf.load(sweeps_dir() / f"{name}.yaml").hydra.sweeper
    settings = SweepSettings.from_config(node)
    assert settings.study_name == name
    space = parse_search_space(settings.params)
    assert set(space.parameters) == set(node.params) and not space.fixed  # every entry is searched
    cfg = compose_config([f"sweep={name}", *space.example_overrides()])
    for key in space.parameters:
        is_group = (config_dir() / key).is_dir()
        assert is_group or OmegaConf.select(cfg, key) is not None, f"{name}: {key} is neither a group nor a config key"
    if str(settings.sampler if isinstance(settings.sampler, str) else settings.sampler.get("name")) == "grid":
        grid = space.grid()
        assert grid is not None, f"{name}: a grid needs every parameter finite"
        size = 1
        for values in grid.values():
            size *= len(values)
        assert settings.n_trials <= size, f"{name}: n_trials={settings.n_trials} exceeds the grid's {size} points"
    study_sampler(settings.sampler, settings.seed, space)
    make_pruner(settings.pruner)


def test_help_lists_exactly_the_options_that_exist() -> None:
    from omegaconf import OmegaConf

    template = OmegaConf.load(config_dir() / "config.yaml").hydra.help.template
    for group in ("dataset", "model", "optimizer", "device", "tracking"):
        line = re.search(rf"^\s+{group}\s+(.+)$", template, re.MULTILINE)
        assert line is not None, group
        listed = {o.strip() for o in line.group(1).split(",")}
        assert listed == {p.stem for p in (config_dir() / group).glob("*.yaml")}, group


@pytest.mark.slow
def test_the_wheel_carries_conf_and_sweeps(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(repo)], check=True)
    (wheel,) = tmp_path.glob("hepsweep-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "hepsweep/_data/conf/config.yaml" in names
    assert "hepsweep/_data/sweeps/quickstart.yaml" in names
    assert "hydra_plugins/hepsweep_sweeper/sweeper.py" in names
    assert not any(n.startswith("hydra_plugins/__init__") for n in names)  # a namespace package
    probe = (
        "import hepsweep._resources as r, hepsweep;"
        "print(r.config_dir()); print(r.sweeps_dir());"
        "cfg = hepsweep.compose(['sweep=quickstart']); print(cfg.hydra.sweeper.study_name if 'hydra' in cfg else cfg.dataset.name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(site / "hepsweep" / "_data" / "conf")
    assert lines[1] == str(site / "hepsweep" / "_data" / "sweeps")
    assert lines[2] == "hepmass"

