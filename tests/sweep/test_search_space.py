"""The params grammar shared with hydra-optuna-sweeper, and its error messages."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hepsweep.errors import SearchSpaceError
from hepsweep.sweep.search_space import parse_search_space


def test_every_form_of_the_grammar() -> None:
    space = parse_search_space(
        {
            "model.units": "choice(16, 32, 64)",
            "model.n_layers": "range(1, 4)",
            "model.dropout": "range(0.0, 0.5, step=0.1)",
            "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
            "model.filters": "int(interval(4, 32))",
            "train.batch_size": "tag(log, int(interval(32, 4096)))",
            "model": "choice(mlp, cnn)",
            "dataset.n_events": 5000,
        }
    )
    d = space.distributions
    assert d["model.units"] == CategoricalDistribution([16, 32, 64])
    assert d["model.n_layers"] == IntDistribution(1, 4)  # stop included, as in hydra-optuna-sweeper
    assert d["model.dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert d["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["model.filters"] == IntDistribution(4, 32)
    assert d["train.batch_size"] == IntDistribution(32, 4096, log=True)
    assert d["model"] == CategoricalDistribution(["mlp", "cnn"])
    assert space.fixed == {"dataset.n_events": "5000"}


def test_overrides_round_trip() -> None:
    space = parse_search_space({"model.units": "choice(16, 32)", "optimizer.lr": "interval(0.001, 0.1)", "x": "choice([1,2],[3])"})
    overrides = space.overrides({"model.units": 32, "optimizer.lr": 0.0125, "x": "[3]"})
    assert overrides == ["model.units=32", "optimizer.lr=0.0125", "x=[3]"]


def test_command_line_sweeps_join_and_win() -> None:
    space = parse_search_space({"model.units": "choice(16, 32)"}, ["model.units=8,9", "train.epochs=3"])
    assert space.distributions["model.units"] == CategoricalDistribution([8, 9])
    assert space.fixed == {"train.epochs": "3"}


def test_grid_needs_discrete_parameters() -> None:
    assert parse_search_space({"a": "choice(1, 2)", "b": "range(3, 5)"}).grid() == {"a": [1, 2], "b": [3, 4, 5]}
    assert parse_search_space({"a": "choice(1, 2)", "c": "interval(0, 1)"}).grid() is None


def test_signature_identifies_the_space() -> None:
    a = parse_search_space({"a": "choice(1, 2)"}, ["x=1"]).signature()
    b = parse_search_space({"a": "choice(1, 3)"}, ["x=1"]).signature()
    assert a != b and a == parse_search_space({"a": "choice(1, 2)"}, ["x=1"]).signature()


@pytest.mark.parametrize(
    "text, message",
    [
        ("choice(1, 2", "cannot parse 'choice\\(1, 2'"),
        ("interval(5, 1)", "interval\\(5, 1\\) needs low < high"),
        ("tag(log, interval(0, 1))", "a log interval needs a positive low end"),
        ("range(5, 1)", "range\\(5, 1\\) is empty"),
    ],
)
def test_bad_expressions_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=f"hydra.sweeper.params.p: {message}"):
        parse_search_space({"p": text})
