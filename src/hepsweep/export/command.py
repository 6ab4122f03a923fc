"""``hepsweep export STUDY`` and ``hepsweep register STUDY NAME``: the verbs' arguments, the
study's trial, and what is printed. The work is done in :mod:`hepsweep.export.exporter`,
:mod:`hepsweep.export.mlflow_model` and :mod:`hepsweep.sweep.registry`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hepsweep.errors import ExportError, HepsweepError, StudyError, message_line
from hepsweep.export.exporter import FORMATS, check_format, export_run
from hepsweep.export.latency import format_latency, latency_metrics
from hepsweep.export.origin import Origin
from hepsweep.export.serving import load_run
from hepsweep.redaction import mask
from hepsweep.sweep.registry import register_best
from hepsweep.sweep.resume import load_study
from hepsweep.sweep.study_tracking import study_tracking_uri
from hepsweep.sweep.winner import pick_trial, trial_folder, trial_origin
from hepsweep.tracking import store
from hepsweep.train.benchmark import CHECKPOINT


def _source(name: str, storage: str | None, trial: int | None) -> tuple[Path, Origin, str | None]:
    """A run folder (holding a checkpoint) as it is, else a study's trial; and the study's MLflow store."""
    path = Path(name).expanduser()
    if trial is None and path.is_dir() and (path / CHECKPOINT).is_file():
        return path.resolve(), Origin(label=path.name), None
    study = load_study(name, storage)
    chosen = pick_trial(study, trial)
    return trial_folder(study, chosen), trial_origin(study, chosen), study_tracking_uri(study)


def export(args: list[str]) -> int:
    """Export a study's best trial (or --trial N, or a run folder) with its preprocessing, as
    ONNX, Keras or drone JSON, after checking it against Keras on the study's test events."""
    parser = argparse.ArgumentParser(prog="hepsweep export", description=export.__doc__)
    parser.add_argument("study", help="the study name (or a run folder holding checkpoint/model.keras)")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite:///outputs/optuna.db, or under $HEPSWEEP_OUTPUT)")
    parser.add_argument("--trial", type=int, metavar="N", help="export trial N (default: the study's best complete trial)")
    parser.add_argument("--format", default="onnx", help=f"{' | '.join(FORMATS)} (default onnx)")
    parser.add_argument("-o", "--output", type=Path, help="the folder to write (default: ./export-<study>-trial<N>-<format>)")
    parser.add_argument("--events", type=int, default=10_000, help="test events to check (0: all; default 10000)")
    parser.add_argument("--no-latency", action="store_true", help="skip timing the runtimes")
    options = parser.parse_args(args)
    fmt = check_format(options.format)
    if options.events < 0:
        raise ExportError(f"--events {options.events} cannot be negative; give a number of test events, or 0 for all")
    folder, origin, uri = _source(options.study, options.storage, options.trial)
    output = options.output or Path(f"export-{origin.label}-{fmt}")
    result = export_run(load_run(folder), fmt, output, origin, options.events or None, not options.no_latency)
    print(f"exported {origin.label} as {fmt}: {result.path} (max abs difference to Keras {result.max_abs_diff:.2e} on {result.n_events} test events)")
    if result.latency:
        print(format_latency(result.latency))
        _log_latency(uri, origin, result.latency)
    return 0


def _log_latency(uri: str | None, origin: Origin, table: dict[str, dict[int, float]]) -> None:
    """Best effort: the latency figures as metrics of the trial's MLflow run."""
    if not (uri and origin.run_id):
        return
    try:
        client = store.client(uri)
        for key, value in latency_metrics(table).items():
            client.log_metric(origin.run_id, key, value)
    except Exception as exc:
        print(f"note: could not log the latency to MLflow run {origin.run_id} ({mask(str(exc))})", file=sys.stderr)


def register(args: list[str]) -> int:
    """Register a study's best trial (or --trial N) in the MLflow Model Registry as NAME: a new
    version when it is not registered yet, with the alias champion and the study's tags."""
    parser = argparse.ArgumentParser(prog="hepsweep register", description=register.__doc__)
    parser.add_argument("study", help="the study name")
    parser.add_argument("name", help="the registered model's name")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite:///outputs/optuna.db, or under $HEPSWEEP_OUTPUT)")
    parser.add_argument("--trial", type=int, metavar="N", help="register trial N (default: the study's best complete trial)")
    options = parser.parse_args(args)
    study = load_study(options.study, options.storage)
    try:
        version = register_best(study, options.name, options.trial)
    except HepsweepError:
        raise
    except Exception as exc:  # MLflow's refusal (a name it does not take, a store that does not answer)
        line = message_line(exc)
        raise StudyError(f"MLflow could not register the chosen trial of study '{study.study_name}' as {options.name!r}: {mask(line)}") from None
    print(f"registered trial {version.trial} of study {study.study_name} as {options.name} version {version.version} (alias champion): "
          f"mlflow.pyfunc.load_model('models:/{options.name}@champion')")
    return 0
