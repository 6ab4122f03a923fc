"""The files a study leaves when it ends: results YAML, tables, plots and its view, printed too."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Sequence

import optuna

from hepsweep.sweep.observers import StudyEnd, StudyObserver
from hepsweep.sweep.report import (
    StudyView,
    format_view,
    import_plotting,
    study_artifacts,
    terminal_width,
    trials_view,
    write_optimization_results,
)

log = logging.getLogger(__name__)

REPORT_TXT = "study_report.txt"

# a study view: (study, folder for its figures) -> its StudyView
RenderView = Callable[[optuna.Study, Path], StudyView]


class ResultsWriter(StudyObserver):
    """Writes ``optimization_results.yaml``, the study's tables and plots and its view into the
    study's folder when the study ends, prints the view, and hands the files to the observers
    after it (the study's MLflow run logs them)."""

    def __init__(
        self,
        study_dir: Path,
        objective_names: Sequence[str],
        emit: Callable[[str], None],
        render: RenderView = trials_view,
    ) -> None:
        """``render`` draws the study's view (the reference studies' views: ``hepsweep.studies.render``)."""
        self.study_dir, self.objective_names, self.emit = study_dir, list(objective_names), emit
        self.render = render
        self._preparing: threading.Thread | None = None

    def trial_started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        if self._preparing is None:  # the plotting libraries load while the first trial starts
            self._preparing = threading.Thread(target=_quietly(import_plotting), name="hepsweep-plot-imports", daemon=True)
            self._preparing.start()

    def study_finished(self, study: optuna.Study, end: StudyEnd) -> None:
        results = write_optimization_results(study, self.study_dir, self.objective_names, end.retrained)
        end.artifacts.append(results)
        text = ""
        try:
            end.artifacts.extend(study_artifacts(study, self.study_dir, self.objective_names))
            view = self.render(study, self.study_dir)
            text = format_view(view, terminal_width())  # the terminal's share; the file has every column
            end.artifacts.extend(view.figures)
            report = self.study_dir / REPORT_TXT
            report.write_text(format_view(view) + "\n")
            end.artifacts.append(report)
        except Exception as exc:  # presentation must never cost the study
            log.warning("study report failed: %s", exc)
        print(text, flush=True)
        self.emit(f"results: {results}")


def _quietly(function: Callable[[], None]) -> Callable[[], None]:
    """``function``, its failure logged: a preparation that fails is retried where it is needed."""

    def run() -> None:
        try:
            function()
        except Exception as exc:
            log.info("could not prepare %s: %s", function.__name__, exc)

    return run
