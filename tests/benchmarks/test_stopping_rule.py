"""Replaying early stopping on recorded dev metrics (benchmarks/stopping_rule.py)."""
import os
import sys

import pytest

from tests.util import read_json, recorded_runs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402
import stopping_rule  # noqa: E402

EXAMPLE_F1 = [0.50, 0.60, 0.55, 0.58, 0.57]
MACRO_F1 = [0.10, 0.10, 0.30, 0.20, 0.10]


def epochs():
    return [{"epoch": n, "validation_example_f1": e, "validation_macro_f1": m, "training_loss": 1.0}
            for n, (e, m) in enumerate(zip(EXAMPLE_F1, MACRO_F1))]


def test_one_metric_keeps_its_best_epoch_and_stops_after_patience_epochs_without_improvement():
    chosen = stopping_rule.replay(epochs(), ["+example_f1"], patience=2)
    # best 0.60 at epoch 1; epochs 2 and 3 do not beat it
    assert (chosen["best_epoch"], chosen["last_epoch"], chosen["stopped"]) == (1, 3, True)
    assert chosen["dev"] == {"example_f1": 0.60, "macro_f1": 0.10}


def test_several_metrics_are_summed_as_the_trainer_sums_them():
    chosen = stopping_rule.replay(epochs(), ["+example_f1", "+macro_f1"], patience=2)
    # sums 0.60, 0.70, 0.85, 0.78, 0.67: best at epoch 2, stopped after epoch 4
    assert (chosen["best_epoch"], chosen["last_epoch"], chosen["stopped"]) == (2, 4, True)
    assert stopping_rule.replay(epochs(), ["-macro_f1"], patience=10)["best_epoch"] == 0


def test_a_rule_that_never_runs_out_of_patience_is_open_or_ends_at_the_budget():
    chosen = stopping_rule.replay(epochs(), ["+example_f1"], patience=5)
    assert (chosen["best_epoch"], chosen["stopped"]) == (1, False)
    assert stopping_rule.ending(chosen, budget=5) == "budget (5 epochs)"
    assert stopping_rule.ending(chosen, budget=8) == "open (record ends at 4)"


def test_a_record_with_missing_epochs_is_refused():
    with pytest.raises(ValueError, match=r"every epoch from 0.*\[0, 2\]"):
        stopping_rule.replay([epochs()[0], epochs()[2]], ["+example_f1"], patience=2)


def test_group_means_average_over_seeds():
    table = [["runs/a_seed1", "1", "x", "0.5000"], ["runs/a_seed2", "2", "x", "0.7000"],
             ["runs/b_seed1", "0", "x", "0.1000"]]
    assert stopping_rule.group_means(table) == [["runs/a", "2", "0.6000"], ["runs/b", "1", "0.1000"]]


# Two real records (config.json, metrics.json and every epoch's metrics), copied from runs of the
# debtags light configs: a SEAL sweep run that early stopping ended after epoch 7, and a
# cross-entropy run that used its whole 12-epoch budget.
RECORDED_RUNS = sorted(recorded_runs().iterdir())


def test_replaying_each_recorded_runs_own_rule_finds_the_epoch_its_trainer_kept():
    assert len(RECORDED_RUNS) == 2
    endings = []
    for run in map(str, RECORDED_RUNS):
        trainer = read_json(os.path.join(run, "config.json"))["trainer"]
        metric = trainer.get("validation_metric", "-loss")
        chosen = stopping_rule.replay(common.epoch_metrics(run), [metric] if isinstance(metric, str) else metric,
                                      trainer.get("patience"))
        assert chosen["best_epoch"] == read_json(os.path.join(run, "metrics.json"))["best_epoch"], run
        endings.append(stopping_rule.ending(chosen, stopping_rule.epoch_budget(run)))
    assert endings == ["budget (12 epochs)", "stops after 7"]
