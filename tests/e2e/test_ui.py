"""``hepsweep ui`` serves the study in MLflow's web UI, trials nested under the study's run,
checked in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_hepsweep
from tests.e2e.servers import mlflow_server, require_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"  # screenshots, kept by CI


def test_ui_opens_on_the_study_ranked_with_pruned_trials_marked(tmp_path: Path) -> None:
    """What the user sees first, without a click: the study's trials best first, the objective
    and test figures as columns, pruned trials named and stated so; then the study's HTML plots."""
    import sys

    if CHROMIUM is None:
        require_or_skip("Chromium (apt-get install chromium)")

    from mlflow.tracking import MlflowClient
    from playwright.sync_api import sync_playwright

    result = run_hepsweep(
        "-m", "dataset.n_events=800", "train.tensorboard=false", "train.early_stopping_patience=0", "train.epochs=3",
        "hydra.sweeper.study_name=in_the_ui", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler={name: grid, seed: 4}",
        "optimizer.lr=choice(0.02,0.000001,0.000002,0.000003)",  # the good rate first, then hopeless ones
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1, n_warmup_steps: 0}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PRUNED after epoch" in result.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("in_the_ui").experiment_id
    (parent,) = client.search_runs([experiment], "tags.`hepsweep.role` = 'study'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    command = [sys.executable, "-m", "hepsweep", "ui", "--port", "{port}", "--study", "in_the_ui"]
    elsewhere = tmp_path / "elsewhere"  # from any folder, as report and resume: the study index finds the store
    elsewhere.mkdir()
    with mlflow_server(elsewhere, command) as url:
        log = next(elsewhere.glob("server-*.log")).read_text()
        address = log.split(" at ", 1)[1].split(" ", 1)[0]  # the address `hepsweep ui` prints
        assert address.startswith(url) and "viewStateShareKey=hepsweep" in address
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
            )
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(address)
            names = page.locator(".ag-pinned-left-cols-container [role=row]")  # one per run
            page.wait_for_selector(".ag-pinned-left-cols-container [role=row] >> text=in_the_ui", timeout=60_000)
            rows = [text.split("\n") for text in names.all_inner_texts()]
            run_names = [next(part for part in row if part.startswith(("trial-", "in_the_ui"))) for row in rows]
            assert run_names[0] == "trial-0 best"  # ranked by the objective, the best first
            assert sorted(run_names[1:4]) == ["trial-1 pruned", "trial-2 pruned", "trial-3 pruned"]
            assert run_names[4] == "in_the_ui"  # the study's own run has no objective: last
            columns = page.locator(".ag-header-cell[col-id]").evaluate_all(
                "cells => cells.map(cell => cell.getAttribute('col-id'))"
            )
            assert {"metrics.`val_auc`", "metrics.`test_accuracy`", "metrics.`test_auc`",
                    "metrics.`train_time_s`", "tags.`hepsweep.state`", "params.`optimizer.lr`"} <= set(columns)
            states = page.locator('[role=gridcell][col-id="tags.`hepsweep.state`"]').all_inner_texts()
            assert states[:4] == ["COMPLETE", "PRUNED", "PRUNED", "PRUNED"]
            page.screenshot(path=str(ARTIFACTS / "runs_table.png"))

            page.goto(f"{url}/#/experiments/{experiment}/runs/{parent.info.run_id}/artifacts/study_plots.html")
            plots = page.frame_locator("iframe").first
            plots.get_by_text("Optimization history").first.wait_for(timeout=60_000)
            plots.locator(".plotly-graph-div").first.wait_for(timeout=60_000)  # drawn by plotly.js
            page.screenshot(path=str(ARTIFACTS / "study_plots.png"))
            browser.close()


def test_ui_stops_its_server_on_sigterm_and_warns_about_open_hosts(tmp_path: Path) -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time

    from tests.e2e.servers import free_port, wait_http

    port = free_port()
    log = open(tmp_path / "ui.log", "w+")
    ui = subprocess.Popen(
        [sys.executable, "-m", "hepsweep", "ui", "--host", "0.0.0.0", "--port", str(port),
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        deadline = time.monotonic() + 30  # the server lets go of its port
        while listening() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not listening()
    finally:
        if ui.poll() is None:
            ui.kill()
    log.seek(0)
    assert "warning: --host 0.0.0.0" in log.read()


def test_dashboard_serves_the_study_in_optuna_dashboard_on_loopback(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys
    import urllib.request

    import optuna

    from tests.e2e.servers import free_port, wait_http

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="on_the_dashboard", storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    port = free_port()
    log = open(tmp_path / "dashboard.log", "w+")
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "hepsweep", "dashboard", "on_the_dashboard", "--storage", storage, "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/studies")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies") as response:
            studies = json.loads(response.read())["study_summaries"]
        assert [s["study_name"] for s in studies] == ["on_the_dashboard"]
        dashboard.send_signal(signal.SIGTERM)
        assert dashboard.wait(timeout=60) == 0
    finally:
        if dashboard.poll() is None:
            dashboard.kill()
    log.seek(0)
    first = log.readline()
    assert f"at http://127.0.0.1:{port}/dashboard/studies/" in first and "warning" not in log.read()
