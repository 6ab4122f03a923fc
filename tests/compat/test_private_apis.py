"""The Optuna and Hydra internals hepsweep uses are still there, with the signatures it calls.

hepsweep keeps every use of a library's private API in one adapter module per library
(``hepsweep/sweep/_optuna_private.py``, ``hydra_plugins/hepsweep_sweeper/_hydra_private.py``).
When a release renames or reshapes one of them, these tests fail naming the adapter to update
(and ``pyproject.toml``'s pin to widen once it passes again); the tests after them run each
adapter against the installed library.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from sqlalchemy import orm

from hepsweep.sweep import _optuna_private
from hydra_plugins.hepsweep_sweeper import _hydra_private

OPTUNA_ADAPTER = "hepsweep/sweep/_optuna_private.py"
HYDRA_ADAPTER = "hydra_plugins/hepsweep_sweeper/_hydra_private.py"

# (adapter, module, attribute path, the parameters hepsweep passes, in order; None: not callable)
PRIVATE = [
    (OPTUNA_ADAPTER, "optuna.study", "Study._get_trials", ["self", "deepcopy", "states", "use_cache"]),
    (OPTUNA_ADAPTER, "optuna.storages._heartbeat", "is_heartbeat_enabled", ["storage"]),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.storage", "_create_scoped_session", ["scoped_session", "ignore_integrity_error"]),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.models", "TrialModel", None),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.models", "TrialModel.heartbeats", None),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.models", "TrialModel.state", None),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.models", "TrialModel.study_id", None),
    (OPTUNA_ADAPTER, "optuna.storages._rdb.models", "TrialModel.datetime_start", None),
    (OPTUNA_ADAPTER, "optuna.trial", "Trial.__init__", ["self", "study", "trial_id"]),
    (HYDRA_ADAPTER, "hydra._internal.config_loader_impl", "ConfigLoaderImpl._apply_overrides_to_config", ["overrides", "cfg"]),
    (HYDRA_ADAPTER, "hydra._internal.config_loader_impl", "get_overrides_dirname", ["overrides", "exclude_keys", "item_sep", "kv_sep"]),
    (HYDRA_ADAPTER, "hydra._internal.core_plugins.basic_launcher", "BasicLauncher", None),
    (HYDRA_ADAPTER, "hydra.plugins.config_source", "ConfigSource._get_header_dict", ["config_text"]),
    (HYDRA_ADAPTER, "hydra.plugins.config_source", "ConfigSource._normalize_file_name", ["filename"]),
    (HYDRA_ADAPTER, "hydra._internal.utils", "get_args_parser", []),
]


def _resolve(module: str, path: str) -> Any:
    value: Any = importlib.import_module(module)
    orm.configure_mappers()  # SQLAlchemy adds a model's backrefs (TrialModel.heartbeats) here
    for name in path.split("."):
        value = getattr(value, name)
    return value


@pytest.mark.parametrize(("adapter", "module", "path", "parameters"), PRIVATE, ids=[f"{m}.{p}" for _, m, p, _ in PRIVATE])
def test_a_private_name_the_adapters_use_still_exists(adapter: str, module: str, path: str, parameters: list[str] | None) -> None:
    try:
        value = _resolve(module, path)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{module}.{path} is gone ({exc}): update {adapter} for the installed version, then its pin in pyproject.toml")
    if parameters is not None:
        found = list(inspect.signature(value).parameters)
        assert found[: len(parameters)] == parameters, (
            f"{module}.{path} now takes ({', '.join(found)}), not ({', '.join(parameters)}): "
            f"update {adapter} for the installed version, then its pin in pyproject.toml"
        )


def test_a_job_return_keeps_its_value_in_a_private_field() -> None:
    from hydra.core.utils import JobReturn, JobStatus

    fields = JobReturn.__dataclass_fields__
    assert "_return_value" in fields, f"hydra's JobReturn has no _return_value field: update {HYDRA_ADAPTER}"
    error = ValueError("boom")
    result = _hydra_private.failed_job(["a=1"], error)
    assert result.status == JobStatus.FAILED and result.overrides == ["a=1"]
    assert _hydra_private.job_value(result) is error, f"job_value no longer reads what failed_job wrote: update {HYDRA_ADAPTER}"


def test_submitit_launchers_name_their_cluster() -> None:
    launchers = pytest.importorskip("hydra_plugins.hydra_submitit_launcher.submitit_launcher")
    from hydra_plugins.hepsweep_sweeper._submitit_jobs import is_submitit

    for cls, cluster in ((launchers.SlurmLauncher, "slurm"), (launchers.LocalLauncher, "local")):
        assert getattr(cls, "_EXECUTOR", None) == cluster, f"{cls.__name__}._EXECUTOR changed: update {HYDRA_ADAPTER}"
        assert _hydra_private.submitit_cluster(cls.__new__(cls)) == cluster
        assert is_submitit(cls.__new__(cls))


def test_hydra_s_basic_launcher_and_hepsweep_s_pooled_one_are_told_apart() -> None:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    from hydra_plugins.hepsweep_sweeper.launcher import HepsweepLauncher, PooledLauncher

    assert _hydra_private.is_basic_launcher(BasicLauncher())
    assert not _hydra_private.is_basic_launcher(HepsweepLauncher())
    assert isinstance(HepsweepLauncher(), PooledLauncher) and not isinstance(BasicLauncher(), PooledLauncher)


def test_the_hydra_adapter_applies_value_overrides_and_names_the_job_folder() -> None:
    config = OmegaConf.create({"model": {"units": 8}, "lr": 0.1})
    overrides = OverridesParser.create().parse_overrides(["model.units=56", "lr=0.01"])
    _hydra_private.apply_value_overrides(overrides, config)
    assert config.model.units == 56 and config.lr == 0.01
    assert _hydra_private.overrides_dirname(overrides, [], ",", "=") == "lr=0.01,model.units=56"
    assert _hydra_private.config_header("# @package _global_\nx: 1\n")["package"] == "_global_"
    assert _hydra_private.config_file_name("hepmass_mlp") == "hepmass_mlp.yaml"


def test_the_optuna_adapter_reads_trial_ids_cached_trials_and_heartbeats(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_interval=60, grace_period=120)
    study = optuna.create_study(study_name="adapter", storage=storage)
    trial = study.ask()
    assert storage.get_trial(_optuna_private.trial_id(trial)).number == trial.number
    assert [t.number for t in _optuna_private.cached_trials(study)] == [trial.number]
    assert _optuna_private.keeps_heartbeats(storage)
    assert not _optuna_private.keeps_heartbeats(optuna.storages.InMemoryStorage())
    later = datetime.now() + timedelta(seconds=1)
    assert _optuna_private.running_without_heartbeat(storage, "adapter", later) == [_optuna_private.trial_id(trial)]
    storage.record_heartbeat(_optuna_private.trial_id(trial))
    assert _optuna_private.running_without_heartbeat(storage, "adapter", later) == []
    assert _optuna_private.running_without_heartbeat(optuna.storages.InMemoryStorage(), "adapter", later) == []


def test_hydra_s_own_parser_names_its_flags_and_the_command_line_splits_on_them() -> None:
    from hepsweep.app import split_command_line

    bare, with_value = _hydra_private.command_line_flags()
    assert {"-m", "--multirun", "--help", "--hydra-help", "--version", "--info", "-sc", "--resolve"} <= bare
    assert {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
            "--experimental-rerun"} <= with_value
    assert not bare & with_value
    argv = ["-m", "--config-name", "other", "model=cnn", "-cd", "/conf", "train.epochs=2", "--info"]
    assert split_command_line(argv) == (["-m", "--config-name", "other", "-cd", "/conf", "--info"], ["model=cnn", "train.epochs=2"])


def test_a_time_limit_signal_wrapped_by_tensorflow_still_reaches_the_sweeper_as_a_lost_job() -> None:
    """A signal that arrives while TensorFlow binds a traced function's inputs comes back as
    TensorFlow's TypeError; the job's result carries submitit's own answer instead."""
    from hydra.core.utils import JobReturn, JobStatus
    from submitit.core.utils import UncompletedJobError

    from hydra_plugins.hepsweep_sweeper._submitit_jobs import _masked_return, _not_requeued

    signal = UncompletedJobError("Job not requeued because: timed-out too many times.")
    try:
        try:
            raise signal
        except UncompletedJobError as exc:
            raise TypeError(f"Binding inputs to tf.function failed due to `{exc}`.") from exc
    except TypeError as wrapped:
        result = JobReturn(overrides=["x=1"], status=JobStatus.FAILED)
        result.return_value = wrapped
    returned = _hydra_private.job_value(_masked_return(result))
    assert returned is signal
    assert "ended TIMEOUT" in (_not_requeued(returned) or "")
    # any other failure comes back as it was raised
    other = JobReturn(overrides=["x=1"], status=JobStatus.FAILED)
    other.return_value = ValueError("bad input")
    assert isinstance(_hydra_private.job_value(_masked_return(other)), ValueError)


# private names of Optuna's and Hydra's objects that only the adapters may touch
PRIVATE_ATTRIBUTES = {
    "_storage", "_trial_id", "_study_id", "_get_trials", "_return_value", "_backend",
    "_apply_overrides_to_config", "_get_header_dict", "_normalize_file_name", "_cached_frozen_trial",
}
ADAPTERS = {Path(OPTUNA_ADAPTER).name, Path(HYDRA_ADAPTER).name}
SOURCE = Path(__file__).resolve().parents[2] / "src"


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                parts = module.split(".")
                if parts[0] in ("optuna", "hydra") and any(p.startswith("_") for p in parts[1:]):
                    found.append(f"{path.relative_to(SOURCE)}:{node.lineno} imports {module}")
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            receiver = node.value
            if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno} reads .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in PRIVATE_ATTRIBUTES:
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno} {node.func.id}s {node.args[1].value}")
    return found


def test_only_the_adapters_touch_optuna_s_and_hydra_s_private_names() -> None:
    uses = [use for path in sorted(SOURCE.rglob("*.py")) if path.name not in ADAPTERS for use in _private_uses(path)]
    assert not uses, "private Optuna/Hydra names outside the adapters (move them into one): " + "; ".join(uses)


def test_a_submitit_job_s_record_comes_back_through_its_masked_result_file() -> None:
    """The TrialResult a job returns, and the one a pruned run raises (its message masked when
    it names a password), survive the masked, pickled result of a submitit job."""
    import pickle

    from hydra.core.utils import JobReturn, JobStatus

    from hepsweep.sweep.outcome import JobOutcome, PrunedRun, TrialResult, classify
    from hydra_plugins.hepsweep_sweeper._submitit_jobs import _masked_return

    record = TrialResult(0.7, {"train_time_s": 2.0}, {"device": "cpu", "dataset": "hepmass"})
    complete = JobReturn(overrides=["x=1"], status=JobStatus.COMPLETED)
    complete.return_value = record
    assert pickle.loads(pickle.dumps(_masked_return(complete))).return_value == record

    pruned = JobReturn(overrides=["x=1"], status=JobStatus.FAILED)
    pruned.return_value = PrunedRun("pruned; postgresql://user:hunter2@db/optuna", TrialResult(figures={"epochs_run": 2.0}))
    error = _hydra_private.job_value(pickle.loads(pickle.dumps(_masked_return(pruned))))
    assert isinstance(error, PrunedRun) and "hunter2" not in str(error)
    assert JobOutcome(error=error).result == TrialResult(figures={"epochs_run": 2.0})
    assert classify(JobOutcome(error=error), 1)[0].name == "PRUNED"
