"""Launch lines: whichever launcher prints a job's overrides, the trial link is left out."""

from __future__ import annotations

import logging

import pytest

from hepsweep.sweep.trial_link import TrialLink
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
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["\t#3 : model.units=64 optimizer.lr=0.01", "\t#4 : model.units=64 optimizer.lr=0.01", "#5 :"]
