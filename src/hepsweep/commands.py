"""The verbs of the ``hepsweep`` command besides the Hydra app: report, ui, dashboard, resume,
drone, export, register."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hepsweep.config import default_output_root
from hepsweep.data.ntuple_example import write_example_ntuples
from hepsweep.errors import ConfigError, StudyError
from hepsweep.redaction import mask
from hepsweep.studies import render
from hepsweep.sweep.records import StudyRecord
from hepsweep.sweep.report import format_table, format_view, study_table, terminal_width
from hepsweep.sweep.resume import load_study, locate_study
from hepsweep.sweep.resume import resume as resume_study
from hepsweep.sweep.storage import open_storage
from hepsweep.sweep.study_index import output_root_of
from hepsweep.sweep.study_tracking import study_runs
from hepsweep.tracking import store

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _storage_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        help="Optuna storage URL (default: sqlite:///outputs/optuna.db, or under $HEPSWEEP_OUTPUT)",
    )


def report(args: list[str]) -> int:
    """Print a study as its table (the paper's kind of table for a reference study); write its
    figures next to the study and log them to the study's MLflow run."""
    parser = argparse.ArgumentParser(prog="hepsweep report", description=report.__doc__)
    parser.add_argument("study", help="the study name (hydra.sweeper.study_name)")
    _storage_arg(parser)
    parser.add_argument("--format", choices=("text", "markdown", "csv"), default="text")
    parser.add_argument("--output", "-o", type=Path, help="write the table to this file (.csv or .md picks the format)")
    parser.add_argument("--view", help="trials (one row per trial), hipster, batch_size, hepmass or cms; default: the study's")
    parser.add_argument("--figures", type=Path, help="folder for the figures (default: the study's folder)")
    parser.add_argument("--top", type=int, metavar="N", help="print only the N best trials, best first, and stop")
    options = parser.parse_args(args)

    if options.top is not None and options.top < 1:
        raise ConfigError(f"--top {options.top}: give the number of best trials to print, at least 1")
    study = load_study(options.study, options.storage)
    if options.top is not None:
        table = study_table(study).head(options.top)
        print(f"the {len(table)} best trials of study {study.study_name}, best first")
        print(format_table(table, options.format, terminal_width()))
        return 0
    folder = options.figures or _figures_folder(study)
    view = render(study, folder, options.view)
    fmt = options.format
    if options.output is not None and options.format == "text":
        fmt = {".csv": "csv", ".md": "markdown"}.get(options.output.suffix, "text")
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        text = format_table(view.table, fmt)
        options.output.write_text(text + ("" if text.endswith("\n") else "\n"))
        print(f"wrote {options.output}")
    else:
        print(format_view(view, terminal_width()) if fmt == "text" else format_table(view.table, fmt))
    for figure in view.figures:
        print(f"figure: {figure}")
    _log_to_parent_run(study, view.figures)
    return 0


def _figures_folder(study: Any) -> Path:
    """The study's folder as saved with it, if it lies under one of the user's own output
    folders (the storage may be shared: it does not choose where this process writes), else
    the current folder."""
    saved = StudyRecord.of(study).study_dir
    roots = [r for r in (default_output_root(), output_root_of(study.study_name)) if r is not None]
    if saved and any(Path(saved).resolve().is_relative_to(root.resolve()) for root in roots):
        return Path(saved)
    return Path.cwd()


def _log_to_parent_run(study: Any, files: list[Path]) -> None:
    """Best effort: attach report figures to the study's MLflow parent run."""
    uri, run_id = study_runs(study)
    if not (run_id and uri and files):
        return
    try:
        client = store.client(uri)
        for path in files:
            client.log_artifact(run_id, str(path))
    except Exception as exc:
        print(f"note: could not log the figures to MLflow run {run_id} ({mask(str(exc))})", file=sys.stderr)


def ui(args: list[str]) -> int:
    """Start the MLflow web UI on hepsweep's tracking store (127.0.0.1 unless told otherwise)."""
    parser = argparse.ArgumentParser(prog="hepsweep ui", description=ui.__doc__)
    parser.add_argument("--tracking-uri", help="MLflow store (default: sqlite:///outputs/mlflow.db)")
    parser.add_argument("--study", help="print the address of this study's runs table")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args(args)
    root = default_output_root()
    uri = options.tracking_uri
    if uri is None:
        if not (root / "mlflow.db").exists() and options.study:
            root = _output_root_of(options.study) or root
        db = root / "mlflow.db"
        if not db.exists():
            raise StudyError(f"no MLflow store at {db}; run a study first, set HEPSWEEP_OUTPUT, or pass --tracking-uri")
        uri = f"sqlite:///{db}"
    address = f"http://{options.host}:{options.port}"
    if options.study:
        found, names = store.existing_experiment(uri, options.study)
        if found is None:
            raise StudyError(
                f"no MLflow experiment '{options.study}' in {mask(uri)}; it holds: {', '.join(names) or 'none'} "
                "(a study's experiment is its name unless tracking.experiment says otherwise)"
            )
        address += store.runs_view_path(found)
    log_path = root / "mlflow-ui.log"
    root.mkdir(parents=True, exist_ok=True)
    print(f"MLflow UI for {mask(uri)} at {address} (Ctrl-C stops it; server log: {log_path})", flush=True)
    _warn_if_open("ui", options.host, options.port, "every run (MLflow's server has no login)")
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--host", options.host,
        "--port", str(options.port),
        "--workers", "1",  # one person's browser: one worker, not four on a small machine
        "--uvicorn-opts", "--log-level warning",
    ]
    if uri.startswith("sqlite:///"):
        command += ["--default-artifact-root", (root / "mlartifacts").as_uri()]
    # the server's own lines (registry, security middleware, job executor) go to its log, not the console
    return serve_until_stopped(command, log_path)


def _output_root_of(study_name: str) -> Path | None:
    """The output folder of a study found through the study index (as ``report`` finds it from
    any folder): the folder of its SQLite storage, where hepsweep keeps ``mlflow.db`` beside it."""
    try:
        _, url = locate_study(study_name)
    except StudyError:
        return None
    return Path(url[len("sqlite:///"):]).parent if url.startswith("sqlite:///") else None


def _warn_if_open(verb: str, host: str, port: int, what: str) -> None:
    if host not in LOOPBACK_HOSTS:
        print(
            f"hepsweep {verb}: warning: --host {host} lets anyone who reaches this machine read, change and "
            f"delete {what}; keep 127.0.0.1 and use an SSH tunnel "
            f"(ssh -L {port}:127.0.0.1:{port} HOST) unless this network is yours alone",
            file=sys.stderr,
            flush=True,
        )


def dashboard(args: list[str]) -> int:
    """Serve a study in optuna-dashboard (history, intermediate values, importances, parallel
    coordinates, live while it runs) on 127.0.0.1 unless told otherwise."""
    parser = argparse.ArgumentParser(prog="hepsweep dashboard", description=dashboard.__doc__)
    parser.add_argument("study", help="the study name (hydra.sweeper.study_name)")
    _storage_arg(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    options = parser.parse_args(args)
    program = shutil.which("optuna-dashboard", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if program is None:
        raise StudyError("optuna-dashboard is not installed; pip install 'hepsweep[dashboard]'")
    study, url = locate_study(options.study, options.storage)
    study_id = open_storage(url).get_study_id_from_name(study.study_name)
    address = f"http://{options.host}:{options.port}/dashboard/studies/{study_id}"
    print(f"optuna-dashboard for study {study.study_name} in {mask(url)} at {address} (Ctrl-C stops it)", flush=True)
    _warn_if_open("dashboard", options.host, options.port, "every study in the storage (the dashboard has no login)")
    return serve_until_stopped([program, url, "--host", options.host, "--port", str(options.port)])


def serve_until_stopped(command: list[str], log_path: Path | None = None) -> int:
    """Run a server in its own process group until it exits, or until this process gets
    SIGINT or SIGTERM: then stop the whole group (the server and its workers), so that the
    port is free again. With ``log_path`` the server's output goes there, and its last lines
    are shown if it ends on its own with an error."""
    log = open(log_path, "w") if log_path is not None else None
    server = subprocess.Popen(command, start_new_session=True, stdout=log, stderr=subprocess.STDOUT if log else None)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        code = server.wait()
        if code and log_path is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            print("\n".join(mask(line) for line in tail), file=sys.stderr)
        return code
    except KeyboardInterrupt:
        _stop_group(server)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if log is not None:
            log.close()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def resume(args: list[str]) -> int:
    """Continue a study from its storage, running what its budget still misses."""
    parser = argparse.ArgumentParser(prog="hepsweep resume", description=resume.__doc__)
    parser.add_argument("study")
    _storage_arg(parser)
    parser.add_argument("--n-trials", type=int, help="a new total budget for the study")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="overrides the study storage cannot give (data paths, tracking.uri, launcher setup); "
        "they replace saved ones of the same key",
    )
    options = parser.parse_intermixed_args(args)  # overrides may follow --storage
    if options.n_trials is not None and options.n_trials < 1:
        raise ConfigError(f"--n-trials {options.n_trials}: give a total budget of at least 1")
    study = resume_study(options.study, options.storage, options.n_trials, options.overrides)
    print(f"study {study.study_name}: {len(study.trials)} trials")
    return 0


def drone(args: list[str]) -> int:
    """Distil a trained model into an NNDrone (see hepsweep.drone)."""
    from hepsweep.drone.command import main as drone_main  # heavy: TensorFlow, for this verb only

    return drone_main(args)


def example_ntuples(args: list[str]) -> int:
    """Write example ntuples (signal, ttbar and W+jets as ROOT files with jagged jets and
    weights) that ``hepsweep -m sweep=ntuple_example`` sweeps on."""
    parser = argparse.ArgumentParser(prog="hepsweep example-ntuples", description=example_ntuples.__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=Path("example_ntuples"),
                        help="where to write them (default: ./example_ntuples, where the example sweep reads)")
    parser.add_argument("--events", type=int, default=20_000, help="events per process (default 20000)")
    options = parser.parse_args(args)
    for path in write_example_ntuples(options.folder, options.events):
        print(f"wrote {path.resolve()}")
    return 0


def export(args: list[str]) -> int:
    """Export a study's best model with its preprocessing (see hepsweep.export)."""
    from hepsweep.export.command import export as export_main  # heavy: TensorFlow, for this verb only

    return export_main(args)


def register(args: list[str]) -> int:
    """Register a study's best model in the MLflow Model Registry (see hepsweep.sweep.registry)."""
    from hepsweep.export.command import register as register_main  # heavy: TensorFlow and MLflow, for this verb only

    return register_main(args)


VERBS = {
    "report": report,
    "ui": ui,
    "dashboard": dashboard,
    "resume": resume,
    "drone": drone,
    "example-ntuples": example_ntuples,
    "export": export,
    "register": register,
}


def run_verb(verb: str, args: list[str]) -> int:
    return VERBS[verb](args)
