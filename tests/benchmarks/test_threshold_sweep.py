"""Decision thresholds chosen on dev (benchmarks/threshold_sweep.py)."""
import os
import sys

import pytest
import torch

from tests.util import REPO_ROOT, read_json

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import threshold_sweep  # noqa: E402


def test_scores_threshold_the_probabilities_as_hand_computed():
    probabilities = torch.tensor([[0.6, 0.2], [0.3, 0.4]])
    gold = torch.tensor([[True, False], [False, True]])
    # at 0.35 both documents are exact; at 0.5 the second predicts nothing (F1 0) and label 1 is missed
    assert threshold_sweep.scores(probabilities, gold, 0.35)["example_f1"] == pytest.approx(1.0)
    assert threshold_sweep.scores(probabilities, gold, 0.35)["macro_f1"] == pytest.approx(1.0)
    assert threshold_sweep.scores(probabilities, gold, 0.5)["example_f1"] == pytest.approx(0.5)
    assert threshold_sweep.scores(probabilities, gold, 0.5)["macro_f1"] == pytest.approx(0.5)


def test_sweep_picks_the_best_dev_threshold_and_reports_test_at_it_and_at_one_half(debtags_small_run, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the config's data paths start at the repository root
    archive = str(debtags_small_run / "model.tar.gz")
    thresholds = [0.1, 0.3, 0.5]
    result = threshold_sweep.sweep(archive, thresholds, ["example_f1"])["example_f1"]

    dev = threshold_sweep.predictions(archive, "validation_data_path")[:2]
    assert result["threshold"] in thresholds
    assert result["dev"]["example_f1"] == max(threshold_sweep.scores(*dev, t)["example_f1"] for t in thresholds)
    at_half = read_json(debtags_small_run / "metrics.json")["test_macro_f1"]
    assert result["test_at_0.5"]["macro_f1"] == pytest.approx(at_half)
