"""Launch lines: whichever launcher prints a job's overrides, the trial link is left out."""

from __future__ import annotations

import logging

import pytest

from hepsweep.sweep.trial_link import TrialLink
from hepsweep.redaction import mask_logs
from hydra_plugins.hepsweep_sweeper.launcher import TRIAL_LINK_OVERRIDE, hide_trial_links_in_logs


@pytest.fixture()
def restored_factory():
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def test_a_launch_line_keeps_the_trial_s_values_and_drops_its_link(restored_factory, caplog) -> None:
    link = TRIAL_LINK_OVERRIDE + TrialLink(storage="sqlite:////tmp/a/optuna.db", study="s", trial_id=7).encode()
    overrides = ["model.units=64", link, "optimizer.lr=0.01"]
    hide_trial_links_in_logs()
    hide_trial_links_in_logs()  # installed once, however often the sweeper starts
    log = logging.getLogger("a_launcher")
    with caplog.at_level(logging.INFO, logger="a_launcher"):
        log.info("\t#%d : %s", 3, " ".join(overrides))  # formatted by logging
        log.info(f"\t#4 : {' '.join(overrides)}")  # formatted by the launcher
        log.info("#5 : %s", link)  # nothing but the link
        log.info("#6 : %s", ["model.units=64", link])  # a list, as Python prints it
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "\t#3 : model.units=64 optimizer.lr=0.01", "\t#4 : model.units=64 optimizer.lr=0.01", "#5 :", "#6 : ['model.units=64', '']",
    ]


def test_rewriting_log_records_is_installed_once_whatever_is_asked_in_between(restored_factory) -> None:
    """A sweep run twice in one process (a notebook, resume) does not stack the rewriters."""
    for _ in range(3):
        mask_logs()
        hide_trial_links_in_logs()
    assert logging.getLogRecordFactory().rewrites == ("mask secrets", "hide trial links")  # type: ignore[attr-defined]
    record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "postgresql://u:hunter2@db/s %s", (TRIAL_LINK_OVERRIDE + "abc",), None)
    assert record.getMessage() == "postgresql://u:***@db/s"
