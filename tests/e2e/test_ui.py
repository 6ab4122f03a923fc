"""``hepsweep ui`` serves the study in MLflow's web UI, trials nested under the study's run,
checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_hepsweep
from tests.e2e.servers import mlflow_server, require_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_ui_shows_the_study_with_its_nested_trials(tmp_path: Path) -> None:
    import os
    import sys

    if CHROMIUM is None:
        require_or_skip("Chromium (apt-get install chromium)")

    from playwright.sync_api import sync_playwright

    result = run_hepsweep(
        "-m", "sweep=quickstart", "dataset.n_events=800", "train.epochs=2", "train.tensorboard=false",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=in_the_ui", "hydra.sweeper.pruner=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    command = [sys.executable, "-m", "hepsweep", "ui", "--port", "{port}", "--study", "in_the_ui"]
    os.environ["HEPSWEEP_OUTPUT"] = str(tmp_path / "outputs")
    try:
        with mlflow_server(tmp_path, command) as url:
            log = next(tmp_path.glob("server-*.log")).read_text()
            address = log.split(" at ", 1)[1].split(" ", 1)[0]
            assert address.startswith(url) and address.endswith("/runs")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(address)
                page.get_by_text("in_the_ui", exact=True).last.wait_for(timeout=60_000)
                assert "trial-0" not in page.inner_text("body")  # collapsed under the study
                page.locator("[role=row]", has_text="in_the_ui").first.locator("button").first.click()
                for number in (0, 1):  # the best trial's run is named "trial-N best"
                    page.get_by_text(re.compile(rf"^trial-{number}( best)?$")).wait_for(timeout=30_000)
                assert "best" in page.inner_text("body")
                page.screenshot(path=str(tmp_path / "ui.png"))
                browser.close()
    finally:
        del os.environ["HEPSWEEP_OUTPUT"]


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
