"""Trust: no password leaves the machine, and no code runs because a shared store names it.

The sweeps here run for real, on loopback PostgreSQL and a real MLflow server reached through
URLs that carry a password; afterwards every output, artifact, store and log line is searched
for that password.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_hepsweep
from tests.e2e.servers import mlflow_server, postgres_bin, postgres_server, require_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "S3cret-pw-4711"
SMALL = ["dataset.n_events=600", "train.epochs=2", "train.tensorboard=false", "hydra.sweeper.pruner=none"]


def _decoded_trial_links(text: str) -> str:
    """The JSON inside every HEPSWEEP_TRIAL value in ``text`` (base64 hides nothing)."""
    found = re.findall(r"HEPSWEEP_TRIAL=([A-Za-z0-9_\-]+)", text)
    return " ".join(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)).decode(errors="replace") for v in found)


def _files_holding(root: Path, secret: str) -> list[str]:
    holders = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        text = data.decode(errors="replace")
        if secret.encode() in data or secret in _decoded_trial_links(text):
            holders.append(str(path.relative_to(root)))
    return holders


def _database_dump(url: str) -> str:
    """Every row of every table of the study database, as text."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    metadata = sqlalchemy.MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        rows = [repr(row) for table in metadata.sorted_tables for row in connection.execute(table.select())]
    engine.dispose()
    return "\n".join(rows)


@pytest.mark.postgres
def test_no_password_in_any_output_artifact_store_or_log(tmp_path: Path) -> None:
    if postgres_bin() is None and not os.environ.get("HEPSWEEP_TEST_POSTGRES_URL"):
        require_or_skip("PostgreSQL (apt-get install postgresql)")
    with postgres_server() as plain_url, mlflow_server(tmp_path) as server:
        # the throwaway cluster trusts loopback, so it accepts (and ignores) the password
        storage = plain_url.replace("://postgres@", f"://postgres:{PASSWORD}@", 1)
        tracking = server.replace("http://", f"http://bob:{PASSWORD}@", 1)
        result = run_hepsweep(
            "-m", "sweep=quickstart", *SMALL,
            f"hydra.sweeper.storage='{storage}'", f"tracking.uri='{tracking}'",
            "hydra.sweeper.n_trials=2", "hydra.sweeper.study_name=guarded",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert PASSWORD not in result.stdout + result.stderr
        assert PASSWORD not in _decoded_trial_links(result.stdout + result.stderr)

        client = MlflowClient(server)
        runs = client.search_runs([client.get_experiment_by_name("guarded").experiment_id])
        trials = [r for r in runs if r.data.tags.get("hepsweep.role") == "trial"]
        assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
        for run in runs:
            assert PASSWORD not in json.dumps([run.data.params, run.data.tags])
        assert trials[0].data.params["tracking.uri"] == tracking.replace(PASSWORD, "***")

        study = optuna.load_study(study_name="guarded", storage=plain_url)
        assert all(t.state.name == "COMPLETE" for t in study.trials)
        dump = _database_dump(plain_url)
        assert "hepsweep.command" in dump and PASSWORD not in dump

        resumed = run_hepsweep("resume", "guarded", "--storage", storage, "--n-trials", "3", cwd=tmp_path)
        assert PASSWORD not in resumed.stdout + resumed.stderr
        assert "password" in resumed.stderr and resumed.returncode != 0  # the tracking URL was saved masked
    # job folders (.hydra/*.yaml, config.yaml, logs), MLflow's database and artifacts
    assert _files_holding(tmp_path, PASSWORD) == []
