"""``hepsweep report``: the study's trials best first, the best one marked, a CSV of numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from hepsweep.cli import main
from hepsweep.sweep.report import format_table, study_table

SPACE = {"model.units": CategoricalDistribution([8, 16, 32, 64])}


def make_study(tmp_path: Path, direction: str = "maximize") -> tuple[optuna.Study, str]:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="ranked", storage=storage, direction=direction)
    study.set_user_attr("hepsweep.objective", ["val_auc"])
    for units, value, state in ((8, 0.71, TrialState.COMPLETE), (16, 0.93, TrialState.COMPLETE),
                                (32, None, TrialState.PRUNED), (64, 0.88, TrialState.COMPLETE)):
        study.add_trial(create_trial(
            params={"model.units": units}, distributions=SPACE, value=value, state=state,
            intermediate_values={1: 0.5, 2: 0.6} if state == TrialState.PRUNED else {1: value},
            user_attrs={"test_auc": (value or 0.5) - 0.01, "gpu_present": False},  # no GPU figure, as a job records it
        ))
    return study, storage


@pytest.mark.parametrize("direction, order", [("maximize", [1, 3, 0, 2]), ("minimize", [0, 3, 1, 2])])
def test_the_table_ranks_trials_as_the_study_does_and_marks_the_best(tmp_path: Path, direction: str, order: list[int]) -> None:
    study, _ = make_study(tmp_path, direction)
    table = study_table(study)
    assert table.trial.tolist() == order  # the pruned trial, with no value, comes last
    assert table.best.tolist() == [True, False, False, False]
    assert table.pruned_after_epoch.tolist()[-1] == 2  # epochs count from 1


def test_the_csv_holds_empty_cells_where_the_text_says_absent(tmp_path: Path) -> None:
    study, _ = make_study(tmp_path)
    table = study_table(study)
    assert "absent" in format_table(table, "markdown")
    rows = list(csv.DictReader(io.StringIO(format_table(table, "csv"))))
    assert [row["gpu_util_percent_mean"] for row in rows] == ["", "", "", ""]
    assert float(rows[0]["val_auc"]) == 0.93 and rows[0]["best"] == "True"


def test_report_top_prints_the_n_best_trials_best_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, storage = make_study(tmp_path)
    assert main(["report", "ranked", "--storage", storage, "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "the 2 best trials of study ranked, best first"
    assert [line.split()[0] for line in lines[2:]] == ["1", "3"]
    assert lines[2].split()[1:3] == ["COMPLETE", "yes"]


def test_a_study_is_found_from_any_folder_through_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hepsweep.errors import StudyError
    from hepsweep.sweep import study_index
    from hepsweep.sweep.resume import load_study

    study, storage = make_study(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("HEPSWEEP_OUTPUT", raising=False)
    with pytest.raises(StudyError, match="no study 'ranked' known to hepsweep"):
        load_study("ranked")
    study_index.remember("ranked", storage, tmp_path)
    assert len(load_study("ranked").trials) == 4
    study_index.remember("ranked", "postgresql://me:secret@db.example/optuna", tmp_path)
    assert "secret" not in study_index.index_path().read_text()
    with pytest.raises(StudyError, match="whose password hepsweep does not keep; pass --storage"):
        load_study("ranked")


def test_the_index_says_when_a_study_name_comes_to_point_at_another_storage(tmp_path: Path) -> None:
    from hepsweep.sweep import study_index

    first = f"sqlite:///{tmp_path / 'first.db'}"
    assert study_index.remember("taken_over", first, tmp_path / "run-1") is None
    assert study_index.remember("taken_over", first, tmp_path / "run-2") is None  # the same study, a later folder
    assert study_index.remember("taken_over", "postgresql://me:secret@db.example/optuna", tmp_path) == first
    assert study_index.stored_at("taken_over") == "postgresql://me:***@db.example/optuna"


def test_the_terminal_table_leaves_out_empty_columns_and_fits_its_width(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="wide", storage=f"sqlite:///{tmp_path / 'optuna.db'}", direction="maximize")
    study.set_user_attr("hepsweep.objective", ["val_auc"])
    for units in (8, 16):
        study.add_trial(create_trial(
            params={"model.units": units}, distributions=SPACE, value=units / 100,
            user_attrs={"test_auc": 0.9, "samples_per_s": 1234.5, "gpu_present": False},
        ))
    table = study_table(study)
    full = format_table(table)
    assert "gpu_util_percent_mean" not in full  # 'absent' in every row says nothing
    assert "samples_per_s" in full and "model.units" in full
    narrow = format_table(table, width=45)
    assert all(len(line) <= 45 for line in narrow.splitlines()[:-1])
    assert "units" in narrow.splitlines()[0] and "model.units" not in narrow.splitlines()[0]
    assert narrow.splitlines()[-1].startswith("(") and "samples_per_s" in narrow.splitlines()[-1]
    assert "test_auc" in narrow.splitlines()[0]  # the telling figures stay longest
