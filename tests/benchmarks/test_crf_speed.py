"""benchmarks/crf_speed.py: CRF implementations timed side by side, tables and the issue's goals."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import crf_speed  # noqa: E402


def test_a_tiny_grid_writes_rates_ratios_and_goals(tmp_path, monkeypatch):
    out = tmp_path / "crf"
    monkeypatch.setattr(sys, "argv", ["crf_speed.py", "--batches", "32", "--lengths", "3", "--tags", "4",
                                      "--repeats", "1", "--seconds", "0", "--out", str(out)])
    crf_speed.main()
    record = json.loads((tmp_path / "crf.json").read_text())
    assert [(row["task"], row["batch"], row["length"], row["tags"]) for row in record["rows"]] == [
        ("log-likelihood", 32, 3, 4), ("viterbi", 32, 3, 4)]
    assert all(rate > 0 for row in record["rows"] for rate in row["rates"].values())
    assert {"seal", "allennlp"} <= set(record["rows"][0]["rates"])
    text = (tmp_path / "crf.md").read_text()
    assert "### log-likelihood" in text and "| 32 | 3 | 4 |" in text and "seal / allennlp" in text
    assert "- log-likelihood at batch 32: seal / allennlp from" in text


def test_goals_take_the_smallest_ratio_at_batch_32():
    rows = [{"task": "log-likelihood", "batch": 32, "rates": {"seal": 30.0, "allennlp": 10.0}},
            {"task": "log-likelihood", "batch": 32, "rates": {"seal": 14.0, "allennlp": 10.0}},
            {"task": "log-likelihood", "batch": 1, "rates": {"seal": 1.0, "allennlp": 10.0}},
            {"task": "viterbi", "batch": 32, "rates": {"seal": 10.0, "allennlp": 10.0}}]
    assert crf_speed.goals(rows) == [
        "- log-likelihood at batch 32: seal / allennlp from 1.40x to 3.00x (goal >= 1.5x: not met)",
        "- viterbi at batch 32: seal / allennlp from 1.00x to 1.00x (goal >= 1.0x: met)", ""]
