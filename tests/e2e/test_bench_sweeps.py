"""The sweep benchmark's quick mode runs every arm end to end, so the script never rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_sweeps.py"


def test_quick_benchmark_runs_every_arm_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    arms = {arm["arm"]: arm for arm in json.loads(out.read_text())["arms"]}
    assert set(arms) == {"bare", "kerastuner", "optuna", "hepsweep"}
    for name, arm in arms.items():
        assert arm["error"] is None and arm["trials"] > 0, (name, arm["error"])
        assert 0.5 < arm["best_test_auc"] <= 1.0, name
        # every arm's wall time is split into its phases, and its epochs were timed one by one
        assert arm["epoch_s_median_after_first"] > 0 and arm["steady_fit_s"] > 0, name
        assert arm["to_first_trial_end_s"] + arm["steady_s"] + arm["end_s"] == pytest.approx(arm["wall_s"]), name
    hepsweep = arms["hepsweep"]
    assert hepsweep["distinct_configs"] == hepsweep["trials"] == 12
    # the default pruner decides nothing before epoch 3, the last of the quick mode's epochs
    assert hepsweep["epochs"] <= arms["bare"]["epochs"]
    assert hepsweep["first_epoch_s"] > 0  # from the trial's train_started_at, not the sweeper's clock
    assert "| hepsweep |" in result.stdout and "vs bare" in result.stdout
    assert "where the wall time goes" in result.stdout
