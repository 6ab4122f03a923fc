"""Every key of every config group (hepsweep's sweeper and launcher too), given a wrong type, a value out of its range and an empty
value, ends in one ``hepsweep: error:`` line and exit 2: never a traceback, never a run.

The cases are generated from the composed config itself (each option of each group, each leaf
key with its declared type), so a key added to a schema is covered without editing this file.
``hepsweep``'s command line runs in-process: every refusal here happens before Hydra starts.
Values whose range only the data or the filesystem can judge (a missing file, a folder that
cannot be written) are covered by the subprocess tests in ``tests/e2e/test_cli.py``.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf

from hepsweep.app import compose_config
from hepsweep.cli import main
from hepsweep.config_checks import LAUNCHER_RULES, REPORT_VIEWS, RULES

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("dataset", "model", "optimizer", "device", "train", "tracking")
TOP_LEVEL = ("objective", "output_root", "report")
SWEEPER = "hydra.sweeper"
LAUNCHER = "hydra.launcher"  # hepsweep's: hydra/launcher=hepsweep
# values out of range for keys whose type alone does not say (free text, names, URLs); None:
# any value of the type is valid here, and the range is judged where the data or the
# filesystem is known (tests/e2e/test_cli.py: a missing file, an unwritable folder)
OUT_OF_RANGE_TEXT: dict[str, Any] = {
    "tracking.uri": "garbage://x",
    "tracking.experiment": "../../x",
    f"{SWEEPER}.tracking.uri": "garbage://x",
    f"{SWEEPER}.tracking.experiment": "../../x",
    f"{SWEEPER}.study_name": "a/b",
    f"{SWEEPER}.storage": None,  # any URL or file: the study store is opened when the study starts
    f"{SWEEPER}.custom_search_space": None,  # a function: loaded (and refused) when the study starts
    "dataset.path": None,
    "dataset.test_path": None,
    "dataset.cache_dir": None,
    "output_root": None,
    "dataset.classes": ["pion"],
    # an ntuple's columns and trees: judged when its files are read (tests/data/test_ntuple.py)
    "dataset.tree": None,
    "dataset.features": None,
    "dataset.selection": None,
    "dataset.weight": None,
    "dataset.per_object": None,
}
# the other keys an option needs to be valid at all (an ntuple has no files by default)
VALID_BASE: dict[str, list[str]] = {
    "dataset=ntuple": ["dataset.classes={signal: [s.root], background: [b.root]}", "dataset.features=[x]"],
}
# keys of type Any (a name, a dict or a list): only an out-of-range value and an empty one apply
ANY_TYPED = {
    "objective": ("banana", ""),
    f"{SWEEPER}.direction": ("sideways", ""),
    f"{SWEEPER}.sampler": None,  # built (and refused in one line) when the study starts
    f"{SWEEPER}.pruner": None,
    f"{SWEEPER}.params": None,  # parsed (and refused in one line) when the study starts
    "dataset.objects": ("{Jet: 0}", "''"),
}
# keys whose every value of their type is valid: booleans, and the sweeper's free lists
# (a Model Registry name is any text MLflow takes: it answers itself, in one line, when it registers)
NO_RANGE = {
    f"{SWEEPER}.retrain_overrides", f"{SWEEPER}.seed", "dataset.pad_value", "tracking.register_as",
    f"{SWEEPER}.tracking.register_as",
}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))


def _declared(cfg: DictConfig, key: str) -> Any:
    parent, _, leaf = key.rpartition(".")
    holder = OmegaConf.select(cfg, parent) if parent else cfg
    node = holder._get_node(leaf)  # the schema's declared type of the key (Optional[int], List[str], ...)
    return node._metadata.ref_type  # type: ignore[union-attr]


def _leaves(cfg: DictConfig, prefix: str) -> list[str]:
    node = OmegaConf.select(cfg, prefix) if prefix else cfg
    keys = []
    for key in node.keys():
        full = f"{prefix}.{key}" if prefix else str(key)
        value = node._get_node(key)
        if isinstance(value, DictConfig) and full not in (f"{SWEEPER}.params", "dataset.classes", "dataset.objects"):
            keys += _leaves(cfg, full)
        elif not str(key).startswith("_"):
            keys.append(full)
    return keys


def _base(t: Any) -> Any:
    """``Optional[int]`` -> int, ``List[int]`` -> list."""
    args = [a for a in typing.get_args(t) if a is not type(None)]
    origin = typing.get_origin(t)
    if origin is typing.Union and len(args) == 1:
        return _base(args[0])
    if origin in (list, typing.List) or t in (list, ListConfig):
        return list
    return t


def _cases() -> list[tuple[str, list[str], str]]:
    """(id, the group choices, the bad override) for every key of every group's options."""
    cases: list[tuple[str, list[str], str]] = []
    seen: set[str] = set()
    for group in GROUPS:
        for option in _options(group):
            cfg = compose_config([f"{group}={option}", *VALID_BASE.get(f"{group}={option}", [])], with_hydra=True)
            for key in _leaves(cfg, group):
                if key in seen:  # a key several options share (dataset.n_events) is tried once
                    continue
                seen.add(key)
                choice = f"{group}={option}"
                for kind, value in _bad_values(cfg, key):
                    cases.append((f"{choice}:{key}:{kind}", [choice, *VALID_BASE.get(choice, [])], f"{key}={value}"))
    cfg = compose_config([], with_hydra=True)
    for key in [*TOP_LEVEL, *_leaves(cfg, "metrics"), *_leaves(cfg, SWEEPER), *_leaves(cfg, LAUNCHER)]:
        if key in seen:
            continue
        seen.add(key)
        for kind, value in _bad_values(cfg, key):
            cases.append((f"{key}:{kind}", [], f"{key}={value}"))
    return cases


def _bad_values(cfg: DictConfig, key: str) -> list[tuple[str, str]]:
    """The wrong-type, out-of-range and empty values for ``key``, as override text."""
    if key in ANY_TYPED:
        values = ANY_TYPED[key]
        return [] if values is None else [("out-of-range", values[0]), ("empty", "''")]
    base = _base(_declared(cfg, key))
    current = OmegaConf.select(cfg, key)
    bad: list[tuple[str, str]] = []
    if base is int:
        bad += [("wrong-type", "abc"), ("out-of-range", "-1"), ("empty", "")]
    elif base is float:
        bad += [("wrong-type", "abc"), ("out-of-range", "-1.0"), ("empty", "")]
    elif base is bool:
        bad += [("wrong-type", "maybe"), ("empty", "")]
    elif base is str:
        bad += [("wrong-type", "[1,2]"), ("empty", "''")]
        if key in OUT_OF_RANGE_TEXT:
            if OUT_OF_RANGE_TEXT[key] is not None:
                bad.append(("out-of-range", str(OUT_OF_RANGE_TEXT[key])))
        elif key not in NO_RANGE:
            bad.append(("out-of-range", "nosuchname"))
    elif base is list:
        bad += [("wrong-type", "abc"), ("empty", "''")]
        item = current[0] if current else None
        if key in OUT_OF_RANGE_TEXT:
            if OUT_OF_RANGE_TEXT[key] is not None:
                bad.append(("out-of-range", f"[{','.join(OUT_OF_RANGE_TEXT[key])}]"))
        elif key not in NO_RANGE:
            bad.append(("out-of-range", "[-1]" if item is None or isinstance(item, (int, float)) else "[nosuchname]"))
    else:
        raise AssertionError(f"{key} has a type ({base}) this test does not know: teach it _bad_values")
    if key in NO_RANGE:
        bad = [b for b in bad if b[0] != "out-of-range"]
    return bad


CASES = _cases()


def test_the_cases_cover_every_ranged_key() -> None:
    """Each rule of config_checks is met by some case, and the generated cases are many."""
    keys = {override.split("=", 1)[0] for _, _, override in CASES}
    assert {*RULES, *LAUNCHER_RULES} <= keys, {*RULES, *LAUNCHER_RULES} - keys
    assert len(CASES) > 200


@pytest.mark.parametrize("choices, override", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_value_ends_in_one_error_line(
    choices: list[str], override: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEPSWEEP_OUTPUT", str(tmp_path / "outputs"))
    key = override.split("=", 1)[0]
    short = [] if key == "train.epochs" else ["train.epochs=1"]  # were it not refused, a short run
    code = main([*choices, override, *short])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("hepsweep: error:")]
    assert code == 2 and len(errors) == 1, err
    assert "Traceback" not in err
    assert key.rsplit(".", 1)[-1] in errors[0], errors[0]
    assert not (tmp_path / "outputs").exists()  # refused before anything ran


def test_the_report_views_are_the_ones_the_rules_know() -> None:
    from hepsweep.studies import VIEWS

    assert tuple(VIEWS) == REPORT_VIEWS


def _one_error(code: int, err: str, *fragments: str) -> None:
    errors = [line for line in err.splitlines() if line.startswith("hepsweep: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["-m", "sweep=quickstart", "hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs=0 must be at least 1"),
        (["-m", "sweep=quickstart", "objective=banana"], "objective='banana' is unknown"),
        (["-m", "sweep=quickstart", "objective=[val_auc,nope]"], "objective='nope' is unknown"),
        (["-m", "sweep=quickstart", "tracking.experiment=../../x"], "tracking.experiment=../../x is not a plain name"),
        (["-m", "sweep=quickstart", "tracking.uri=garbage://x"], "tracking.uri=garbage://x has an unknown scheme"),
        (["-m", "sweep=quickstart", "hydra.sweeper.tracking.uri=garbage://x"], "hydra.sweeper.tracking.uri=garbage://x has an unknown"),
        (["-m", "sweep=quickstart", "report=nosuch"], "report=nosuch is unknown"),
        (["-m", "sweep=hepmass_mlp", "model=cnn"], "sweep/hepmass_mlp sets model.n_layers, which the chosen model does not have"),
        (["dataset.n_events=-10", "train.epochs=1", "tracking=off"], "dataset.n_events=-10 must be at least 1"),
        (["report", "quickstart", "--top", "-1"], "--top -1: give the number of best trials"),
        (["resume", "quickstart", "--n-trials", "0"], "--n-trials 0: give a total budget of at least 1"),
    ],
)
def test_a_sweep_or_a_verb_is_refused_before_its_first_trial(
    argv: list[str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEPSWEEP_OUTPUT", str(tmp_path / "outputs"))
    _one_error(main(argv), capsys.readouterr().err, fragment)
    assert not (tmp_path / "outputs").exists()  # no study, no trial


def test_ui_refuses_a_study_its_store_does_not_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("quickstart")
    code = main(["ui", "--tracking-uri", uri, "--study", "nosuchstudy", "--port", "1"])
    _one_error(code, capsys.readouterr().err, "no MLflow experiment 'nosuchstudy'", "it holds: Default, quickstart")
    assert MlflowClient(uri).get_experiment_by_name("nosuchstudy") is None
