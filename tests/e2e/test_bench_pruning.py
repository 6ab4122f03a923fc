"""The pruning suite's quick mode runs every arm and every replay end to end, so the script that
chooses hepsweep's default pruner never rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_pruning.py"


def test_quick_suite_runs_the_default_the_anchors_and_the_replays(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    rows = {row["arm"]: row for row in figures["rows"]}
    assert set(rows) == {"hs:default", "optuna_hb", "kerastuner_hb", "reference"}
    trials, epochs = figures["args"]["trials"], figures["args"]["epochs"]
    best = max(row["test_auc"] for row in rows.values())
    for name, row in rows.items():
        assert 0.5 < row["test_auc"] <= 1.0, name
        assert row["shortfall"] == pytest.approx(best - row["test_auc"], abs=1e-4), name
        assert row["wall_s"] > 0 and row["vs_fastest_anchor"] > 0, name
    # the reference trains every trial in full; hepsweep's default never trains more
    assert rows["reference"]["epochs"] == trials * epochs
    assert rows["hs:default"]["epochs"] <= trials * epochs
    assert min(rows["optuna_hb"]["vs_fastest_anchor"], rows["kerastuner_hb"]["vs_fastest_anchor"]) == 1.0

    replays = {row["arm"]: row for row in figures["replayed"]}
    assert "replay hs:default" in replays and "replay hs:none" in replays
    for name, row in replays.items():
        # a replay cuts the reference's own curves: never more epochs or time than training them in full
        assert row["epochs"] <= rows["reference"]["epochs"], name
        assert 0.5 < row["test_auc"] <= 1.0, name
        assert 0 < row["time_fraction"] <= 1.0 + 1e-6, name
    assert "Worst case over the suite" in result.stdout and "Pruning alone, replayed" in result.stdout
