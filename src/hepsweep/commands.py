"""The verbs of the ``hepsweep`` command besides the Hydra app: report, ui, resume, drone."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from hepsweep.errors import StudyError


def _storage_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        help="Optuna storage URL (default: sqlite:///outputs/optuna.db, or under $HEPSWEEP_OUTPUT)",
    )


def report(args: list[str]) -> int:
    """Print a study as a table; optionally write it as CSV or markdown."""
    parser = argparse.ArgumentParser(prog="hepsweep report", description=report.__doc__)
    parser.add_argument("study", help="the study name (hydra.sweeper.study_name)")
    _storage_arg(parser)
    parser.add_argument("--format", choices=("text", "markdown", "csv"), default="text")
    parser.add_argument("--output", "-o", type=Path, help="write the table to this file (.csv or .md picks the format)")
    options = parser.parse_args(args)
    from hepsweep.sweep.report import format_table, study_table
    from hepsweep.sweep.resume import load_study

    study = load_study(options.study, options.storage)
    table = study_table(study)
    fmt = options.format
    if options.output is not None and options.format == "text":
        fmt = {".csv": "csv", ".md": "markdown"}.get(options.output.suffix, "text")
    text = format_table(table, fmt)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(text + ("\n" if not text.endswith("\n") else ""))
        print(f"wrote {options.output}")
    else:
        print(text)
    return 0


def ui(args: list[str]) -> int:
    """Start the MLflow web UI on hepsweep's tracking store (127.0.0.1 unless told otherwise)."""
    parser = argparse.ArgumentParser(prog="hepsweep ui", description=ui.__doc__)
    parser.add_argument("--tracking-uri", help="MLflow store (default: sqlite:///outputs/mlflow.db)")
    parser.add_argument("--study", help="print the address of this study's runs table")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args(args)
    root = Path(os.environ.get("HEPSWEEP_OUTPUT", "outputs")).expanduser().resolve()
    uri = options.tracking_uri
    if uri is None:
        db = root / "mlflow.db"
        if not db.exists():
            raise StudyError(f"no MLflow store at {db}; run a study first, set HEPSWEEP_OUTPUT, or pass --tracking-uri")
        uri = f"sqlite:///{db}"
    address = f"http://{options.host}:{options.port}"
    if options.study:
        from hepsweep.tracking.store import experiment_id

        address += f"/#/experiments/{experiment_id(uri, options.study)}/runs"
    print(f"MLflow UI for {uri} at {address} (Ctrl-C stops it)", flush=True)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--host", options.host,
        "--port", str(options.port),
    ]
    if uri.startswith("sqlite:///"):
        command += ["--default-artifact-root", (root / "mlartifacts").as_uri()]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


def resume(args: list[str]) -> int:
    """Continue a study from its storage, running what its budget still misses."""
    parser = argparse.ArgumentParser(prog="hepsweep resume", description=resume.__doc__)
    parser.add_argument("study")
    _storage_arg(parser)
    parser.add_argument("--n-trials", type=int, help="a new total budget for the study")
    options = parser.parse_args(args)
    from hepsweep.sweep.resume import resume as resume_study

    study = resume_study(options.study, options.storage, options.n_trials)
    print(f"study {study.study_name}: {len(study.trials)} trials")
    return 0


def drone(args: list[str]) -> int:
    """Distil a trained model into an NNDrone (see hepsweep.drone)."""
    from hepsweep.drone.command import main as drone_main

    return drone_main(args)


VERBS = {"report": report, "ui": ui, "resume": resume, "drone": drone}


def run_verb(verb: str, args: list[str]) -> int:
    return VERBS[verb](args)
