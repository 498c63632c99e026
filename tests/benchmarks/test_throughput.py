"""benchmarks/throughput.py: alternating rounds of test-time throughput and relative costs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402
import throughput  # noqa: E402


def test_rounds_alternate_between_archives_and_costs_are_relative_to_the_first(monkeypatch):
    calls = []
    scripted = iter([100.0, 80.0, 90.0, 100.0, 120.0, 100.0])

    def fake_throughput(archive, test_file, label_field, repeats):
        calls.append((archive, test_file, repeats))
        return next(scripted)

    monkeypatch.setattr(common, "throughput", fake_throughput)
    rates = throughput.measure([("ce", "a.tar.gz"), ("seal", "b.tar.gz")], "test.jsonl", rounds=3, repeats=2)
    assert [archive for archive, _, _ in calls] == ["a.tar.gz", "b.tar.gz"] * 3
    assert rates == {"ce": [100.0, 90.0, 120.0], "seal": [80.0, 100.0, 100.0]}
    lines = throughput.markdown(rates)
    assert lines[0] == "| round | ce examples / s | seal examples / s | seal cost / ce's |"
    assert lines[2] == "| 1 | 100.0 | 80.0 | 1.250 |"
    assert lines[3] == "| 2 | 90.0 | 100.0 | 0.900 |"
    # costs 1.25, 0.9, 1.2: the median cost is taken over rounds, not from the median rates
    assert lines[5] == "| median | 100.0 | 100.0 | 1.200 |"


def test_the_gold_field_is_the_models_label_field_else_tags():
    class Seal:
        label_field = "labels"

    assert common.gold_field(Seal()) == "labels"
    assert common.gold_field(object()) == "tags"


def test_a_trained_archive_is_timed_on_its_configured_test_file(debtags_small_run):
    archive = str(debtags_small_run / "model.tar.gz")
    test_file = throughput.configured_test_file(archive)
    assert os.path.exists(test_file)
    rates = throughput.measure([("ce", archive)], test_file, rounds=1, repeats=1)
    assert len(rates["ce"]) == 1 and rates["ce"][0] > 0
