"""Per-label F1 by training frequency (benchmarks/per_label_f1.py)."""
import collections
import json
import os
import sys

import pytest
import torch

from tests.util import REPO_ROOT, read_json

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import per_label_f1  # noqa: E402


def test_f1_per_label_counts_a_label_never_seen_nor_predicted_as_zero():
    tp, fp, fn = torch.tensor([2.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0])
    assert per_label_f1.f1(tp, fp, fn).tolist() == pytest.approx([4 / 6, 0.0, 0.0])


def test_bands_average_the_labels_whose_training_count_falls_in_them():
    result = {"tp": torch.tensor([1.0, 0.0, 3.0, 0.0]), "fp": torch.tensor([1.0, 0.0, 0.0, 2.0]),
              "fn": torch.tensor([0.0, 1.0, 1.0, 0.0]), "train_count": torch.tensor([1.0, 5.0, 20.0, 25.0])}
    rows = per_label_f1.band_rows({"m": result}, [0, 10, 100])
    # labels 0, 1: F1 2/3 and 0, one predicted; labels 2, 3: F1 6/7 and 0, both predicted
    assert rows == [["0-9", "2", f"{1 / 3:.4f}", "1"], ["10-99", "2", f"{3 / 7:.4f}", "2"]]


def test_per_label_f1_of_a_trained_fixture_averages_to_the_models_own_test_macro_f1(debtags_small_run, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the config's data paths start at the repository root
    result = per_label_f1.confusion(str(debtags_small_run / "model.tar.gz"))

    macro = per_label_f1.f1(result["tp"], result["fp"], result["fn"]).mean().item()
    assert macro == pytest.approx(read_json(debtags_small_run / "metrics.json")["test_macro_f1"], abs=1e-6)
    with open(REPO_ROOT / "fixtures/text_multilabel/debtags_small/train.jsonl") as handle:
        occurrences = collections.Counter(label for line in handle for label in json.loads(line)["labels"])
    assert int(result["train_count"].sum()) == sum(occurrences.values())
    assert sorted(result["train_count"][result["train_count"] > 0].long().tolist()) == sorted(occurrences.values())
