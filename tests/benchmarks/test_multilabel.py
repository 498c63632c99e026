"""benchmarks/multilabel.py built from kept metric files, without training or timing."""
import csv
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import multilabel  # noqa: E402

# (method, seed) -> test example-F1, macro-F1 and the epochs' cumulative durations
KEPT_RUNS = {
    ("cross_entropy", 1): (0.60, 0.10, ["0:00:10", "0:00:20"]),
    ("cross_entropy", 2): (0.62, 0.14, ["0:00:10", "0:00:20"]),
    ("seal_dynamic_nce", 1): (0.65, 0.20, ["0:00:30", "0:01:00", "0:01:30"]),
    ("seal_dynamic_nce", 2): (0.63, 0.16, ["0:00:30", "0:01:00", "0:01:30"]),
}

VERSION = {"commit": "c" * 40, "seal_commit": "5" * 40, "seal_dirty": False}


def keep_run(runs_dir, method, seed, example_f1, macro_f1, durations, version=VERSION):
    """What a finished run leaves besides its archive: metrics.json, the per-epoch files and the code version."""
    run = runs_dir / f"{method}_seed{seed}"
    run.mkdir(parents=True)
    for epoch, duration in enumerate(durations):
        (run / f"metrics_epoch_{epoch}.json").write_text(json.dumps({"epoch": epoch, "training_duration": duration}))
    final = {"epoch": len(durations) - 1, "best_epoch": 0, "test_example_f1": example_f1, "test_micro_f1": 0.5,
             "test_macro_f1": macro_f1, "test_hamming_loss": 0.01}
    (run / "metrics.json").write_text(json.dumps(final))
    (run / "code_version.json").write_text(json.dumps(version))


def build_table(monkeypatch, runs_dir, results_dir, *flags):
    monkeypatch.setattr(sys, "argv", ["multilabel.py", "--dataset", "debtags-light", "--seeds", "1", "2",
                                      "--methods", "cross_entropy", "seal_dynamic_nce", "--no-peers",
                                      "--no-throughput", "--runs-dir", str(runs_dir),
                                      "--results-dir", str(results_dir), *flags])
    multilabel.main()


def test_a_table_from_kept_metric_files_averages_seeds_and_says_the_rates_were_not_timed(tmp_path, monkeypatch):
    runs_dir, results_dir = tmp_path / "runs", tmp_path / "results"
    for (method, seed), values in KEPT_RUNS.items():
        keep_run(runs_dir, method, seed, *values)
    build_table(monkeypatch, runs_dir, results_dir)

    record = json.loads((results_dir / "debtags-light.json").read_text())
    summary = {entry["method"]: entry for entry in record["summary"]}
    assert summary["cross_entropy"]["f1_mean"] == pytest.approx(0.61)
    assert summary["seal_dynamic_nce"]["test_macro_f1"] == pytest.approx(0.18)
    assert summary["seal_dynamic_nce"]["epoch_seconds"] == pytest.approx(30.0)
    assert summary["cross_entropy"]["examples_per_second"] is None
    table = (results_dir / "debtags-light.md").read_text()
    assert "| not timed |" in table
    assert "test-time cost: not timed in this run" in table
    assert "epoch / cross_entropy epoch: 3.00x" in table
    assert record["code_version"] == {"seal_commit": "5" * 40, "seal_dirty": False, "commits": ["c" * 40]}
    assert "Code: seal/ as of commit `5555555555`; runs made at `cccccccccc`" in table
    with open(results_dir / "debtags-light.runs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((row["run"], float(row["test_example_f1"]), row["seal_commit"]) for row in rows) == [
        (f"{method}_seed{seed}", values[0], "5" * 40) for (method, seed), values in sorted(KEPT_RUNS.items())]
    assert not any(name.endswith(".log") for name in os.listdir(runs_dir))  # nothing was trained


@pytest.mark.parametrize("odd_version, allow_dirty, refusal", [
    ({**VERSION, "seal_commit": "6" * 40}, True, "runs made with different versions of seal/ cannot share a table"),
    ({**VERSION, "seal_dirty": True}, False, "seal_dynamic_nce seed 2 were made with uncommitted changes in seal/"),
])
def test_kept_runs_of_another_version_of_seal_are_refused_before_any_table_is_written(
        tmp_path, monkeypatch, odd_version, allow_dirty, refusal):
    runs_dir, results_dir = tmp_path / "runs", tmp_path / "results"
    for (method, seed), values in KEPT_RUNS.items():
        odd = (method, seed) == ("seal_dynamic_nce", 2)
        keep_run(runs_dir, method, seed, *values, version=odd_version if odd else VERSION)
    with pytest.raises(SystemExit, match=refusal):
        build_table(monkeypatch, runs_dir, results_dir, *(["--allow-dirty"] if allow_dirty else []))
    assert not results_dir.exists()


def test_allowed_uncommitted_changes_are_stated_in_the_table(tmp_path, monkeypatch):
    runs_dir, results_dir = tmp_path / "runs", tmp_path / "results"
    for (method, seed), values in KEPT_RUNS.items():
        dirty = (method, seed) == ("cross_entropy", 1)
        keep_run(runs_dir, method, seed, *values, version={**VERSION, "seal_dirty": dirty})
    build_table(monkeypatch, runs_dir, results_dir, "--allow-dirty")
    assert json.loads((results_dir / "debtags-light.json").read_text())["code_version"]["seal_dirty"] is True
    table = (results_dir / "debtags-light.md").read_text()
    assert "with uncommitted changes in seal/ (no commit reproduces them)" in table
