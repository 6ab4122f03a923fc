"""The metrics table and the figures of merit, weighted and unweighted, on events built by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from hepsweep.data.weights import training_weights
from hepsweep.errors import ConfigError
from hepsweep.metrics import (
    EPOCH_FIGURES,
    TABLE,
    VALIDATION,
    WORKING_POINT,
    Scored,
    Shown,
    background_rejection,
    balanced_efficiency,
    binary_auc,
    figures_of_merit,
    max_significance_improvement,
    metric,
    names,
    recorded,
    roc_auc,
    shown_in,
)
from hepsweep.train.evaluate import class_probabilities


def _scored(signal: list[float], background: list[float], weights: list[float] | None = None) -> Scored:
    labels = np.r_[np.ones(len(signal), int), np.zeros(len(background), int)]
    probabilities = class_probabilities(np.r_[signal, background])
    return Scored(labels, probabilities, None if weights is None else np.asarray(weights, float), 1)


def test_background_rejection_is_one_over_the_background_efficiency_at_the_working_point() -> None:
    # signal scores 0.6..0.9, background 0.0..0.7: a cut keeping half the signal (> 0.75)
    # keeps no background; keeping all signal (> 0.55) keeps 2 of 8 background events
    scored = _scored([0.6, 0.7, 0.8, 0.9], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.65, 0.7])
    assert background_rejection(scored, 0.5) == 8.0  # capped at n_background
    assert background_rejection(scored, 1.0) == pytest.approx(4.0)
    predicted = scored.probabilities.argmax(axis=1)  # cut at 0.5: 4/4 signal kept, 2/8 background kept
    assert balanced_efficiency(scored.labels, predicted, signal=1) == pytest.approx(0.5 * (1.0 + 6 / 8))


def test_weights_change_the_auc_as_they_should() -> None:
    # pairs (signal > background): 0.9 beats both; 0.2 beats 0.1 only -> 3 of 4 unweighted.
    # Weighting the misranked signal event by 3: (1*2 + 3*1) of (1+3)*(1+1) pairs = 5/8.
    signal, background = [0.9, 0.2], [0.5, 0.1]
    assert roc_auc(*_pair(_scored(signal, background))) == pytest.approx(0.75)
    assert roc_auc(*_pair(_scored(signal, background, [1, 3, 1, 1]))) == pytest.approx(5 / 8)
    # scaling every weight, or one class's weights, changes nothing
    assert roc_auc(*_pair(_scored(signal, background, [2, 6, 5, 5]))) == pytest.approx(5 / 8)


def _pair(scored: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    return scored.labels, scored.probabilities, scored.weights


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 20), st.integers(1, 4)), min_size=2, max_size=30).filter(
        lambda rows: len({r[0] for r in rows}) == 2
    )
)
def test_an_integer_weight_counts_as_that_many_copies_of_the_event(rows: list[tuple[bool, int, int]]) -> None:
    is_signal = np.array([r[0] for r in rows])
    score = np.array([r[1] / 20 for r in rows])
    weights = np.array([r[2] for r in rows], float)
    repeated = np.repeat(np.arange(len(rows)), weights.astype(int))
    expected = roc_auc_score(is_signal[repeated], score[repeated])
    assert binary_auc(is_signal, score, weights) == pytest.approx(expected)
    assert binary_auc(is_signal, score, None) == pytest.approx(roc_auc_score(is_signal, score))


def test_negative_weights_give_a_finite_auc_and_rejection() -> None:
    scored = _scored([0.9, 0.8, 0.3], [0.6, 0.2, 0.1], [1.0, -0.2, 1.0, 1.0, 0.5, -0.1])
    assert np.isfinite(roc_auc(*_pair(scored)))
    assert background_rejection(scored, 0.5) > 1


def test_significance_improvement_is_the_best_eps_s_over_sqrt_eps_b() -> None:
    # score >= 0.6 keeps 4/4 signal and 2/8 background: 1/sqrt(1/4) = 2; >= 0.7 keeps 3/4 and
    # 1/8: 0.75/sqrt(1/8) = 2.12; >= 0.8 keeps 2/4 and none (floored at 1/8): 1.41. The best: 2.12.
    scored = _scored([0.6, 0.7, 0.8, 0.9], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.65, 0.7])
    assert max_significance_improvement(scored) == pytest.approx(0.75 / np.sqrt(1 / 8))


def test_the_table_names_working_points_and_refuses_unknown_metrics() -> None:
    assert metric("test_bkg_rejection_at_77pct_sig").direction == "maximize"
    assert metric("val_loss").direction == "minimize"
    assert metric("test_auc").monitor == "val_auc"
    with pytest.raises(ConfigError, match="banana"):
        metric("banana")
    with pytest.raises(ConfigError, match="whole percents"):
        figures_of_merit([0.333])
    rows = figures_of_merit([0.7, 0.3], also=["test_bkg_rejection_at_50pct_sig", "val_auc"])
    names = [r.name for r in rows]
    wps = [n for n in names if n.startswith("test_bkg_rejection")]
    assert wps == [f"test_bkg_rejection_at_{p}pct_sig" for p in (30, 50, 70)]
    assert "val_auc" not in names and "test_auc" in names


def test_report_columns_follow_the_table_with_working_points_in_place() -> None:
    present = ["early_stopped", "test_bkg_rejection_at_70pct_sig", "test_auc", "test_bkg_rejection_at_30pct_sig", "nope"]
    assert shown_in(Shown.REPORT, present) == [
        "test_auc", "test_bkg_rejection_at_30pct_sig", "test_bkg_rejection_at_70pct_sig", "early_stopped",
    ]


def test_training_weights_balance_the_classes_and_follow_the_negative_weight_policy() -> None:
    labels = np.array([0, 0, 0, 1])
    weights = np.array([1.0, 2.0, -1.0, 0.5])
    kept = training_weights(labels, weights, 2, balance=True, negative="keep")
    assert kept[labels == 0].sum() == pytest.approx(kept[labels == 1].sum())
    assert kept.mean() == pytest.approx(1.0)
    assert (kept < 0).sum() == 1
    dropped = training_weights(labels, weights, 2, balance=False, negative="drop")
    assert dropped[2] == 0 and dropped.mean() == pytest.approx(1.0)
    absolute = training_weights(labels, weights, 2, balance=False, negative="abs")
    assert (absolute > 0).all()
    assert training_weights(labels, None, 2, balance=True, negative="keep") is None
    with pytest.raises(ConfigError, match="negative_weights"):
        training_weights(labels, weights, 2, balance=True, negative="flip")


SRC = Path(__file__).resolve().parents[1] / "src"
# (file, name) pairs that may spell a metric's name, and why
SPELLED_ELSEWHERE = {
    # the parameter count is a key of the exported networks' JSON formats: a file format keeps
    # its keys when the metric is renamed
    ("hepsweep/export/dense_json.py", "n_params"),
    ("hepsweep/drone/network.py", "n_params"),
    ("hepsweep/drone/command.py", "n_params"),
}


def _spelled(name: str) -> bool:
    return name in names() or name in EPOCH_FIGURES or WORKING_POINT.fullmatch(name) is not None


def test_no_module_but_metrics_spells_a_metric_name() -> None:
    """Every metric's name (and every per-epoch figure's) is written once, in metrics.py; the
    other modules import it, so a renamed metric breaks at import instead of drifting apart.
    Docstrings may name metrics."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative == "hepsweep/metrics.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and _spelled(node.value) and (relative, node.value) not in SPELLED_ELSEWHERE
            ):
                found.append(f"src/{relative}:{node.lineno}: {node.value!r}")
    assert not found, "metric names spelled outside metrics.py; import them from hepsweep.metrics:\n" + "\n".join(sorted(set(found)))


def test_the_per_epoch_figures_of_the_validation_split_are_rows_that_every_monitor_names() -> None:
    validation = [VALIDATION + name for name in EPOCH_FIGURES]
    assert all(metric(name).monitor == name for name in validation)
    assert {row.monitor for row in TABLE} <= set(validation)


def test_a_view_may_read_only_the_figures_recorded_on_trials() -> None:
    assert recorded("test_auc", "test_bkg_rejection_at_50pct_sig") == ("test_auc", "test_bkg_rejection_at_50pct_sig")
    with pytest.raises(LookupError, match="n_params"):
        recorded("test_auc", "n_params")
    with pytest.raises(LookupError, match="banana"):
        recorded("banana")
