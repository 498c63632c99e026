"""benchmarks/multilabel.py built from kept metric files, without training or timing."""
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


def keep_run(runs_dir, method, seed, example_f1, macro_f1, durations):
    """What a finished run leaves besides its archive: metrics.json and the per-epoch files."""
    run = runs_dir / f"{method}_seed{seed}"
    run.mkdir(parents=True)
    for epoch, duration in enumerate(durations):
        (run / f"metrics_epoch_{epoch}.json").write_text(json.dumps({"epoch": epoch, "training_duration": duration}))
    final = {"epoch": len(durations) - 1, "best_epoch": 0, "test_example_f1": example_f1, "test_micro_f1": 0.5,
             "test_macro_f1": macro_f1, "test_hamming_loss": 0.01}
    (run / "metrics.json").write_text(json.dumps(final))


def test_a_table_from_kept_metric_files_averages_seeds_and_says_the_rates_were_not_timed(tmp_path, monkeypatch):
    runs_dir, results_dir = tmp_path / "runs", tmp_path / "results"
    for (method, seed), values in KEPT_RUNS.items():
        keep_run(runs_dir, method, seed, *values)
    monkeypatch.setattr(sys, "argv", ["multilabel.py", "--dataset", "debtags-light", "--seeds", "1", "2",
                                      "--methods", "cross_entropy", "seal_dynamic_nce", "--no-peers",
                                      "--no-throughput", "--runs-dir", str(runs_dir),
                                      "--results-dir", str(results_dir)])
    multilabel.main()

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
    assert not any(name.endswith(".log") for name in os.listdir(runs_dir))  # nothing was trained
