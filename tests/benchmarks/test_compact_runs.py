"""One CSV row per run (benchmarks/compact_runs.py), from the recorded runs in fixtures/benchmarks/run_dirs.tar.gz."""
import json
import os
import sys

import pytest

from tests.util import read_json, recorded_runs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402
import compact_runs  # noqa: E402

RUNS = recorded_runs()
SEAL_RUN = RUNS / "debtags_light_seal_nce_samples_20_seed1"


def test_a_row_holds_the_final_dev_and_test_metrics_epochs_time_and_config_hash_of_its_run():
    rows = compact_runs.rows(compact_runs.run_dirs([str(RUNS)]))
    assert [(row["run"], row["method"], row["seed"]) for row in rows] == [
        ("debtags_light_lr_plateau_cross_entropy_seed1", "debtags_light_lr_plateau_cross_entropy", 1),
        ("debtags_light_seal_nce_samples_20_seed1", "debtags_light_seal_nce_samples_20", 1)]
    row, metrics = rows[1], read_json(SEAL_RUN / "metrics.json")
    assert row["finished"] is True
    assert row["dev_example_f1"] == metrics["best_validation_example_f1"]
    assert row["test_macro_f1"] == metrics["test_macro_f1"]
    assert (row["epochs"], row["best_epoch"]) == (8, 4)
    assert row["epoch_seconds"] == pytest.approx(common.training_seconds(str(SEAL_RUN)) / 8)
    assert len(row["config_sha256"]) == 64 and row["config_sha256"] != rows[0]["config_sha256"]
    # no code_version.json: the commit that recorded the run, when the history is there to say
    assert row["recorded_in_commit"] == "" or len(row["recorded_in_commit"]) == 40
    assert "code_commit" not in row


def test_the_config_hash_ignores_the_layout_of_config_json(tmp_path):
    config = read_json(SEAL_RUN / "config.json")
    (tmp_path / "config.json").write_text(json.dumps(config, indent=4, sort_keys=False))
    assert compact_runs.config_sha256(str(tmp_path)) == compact_runs.config_sha256(str(SEAL_RUN))


def test_an_unfinished_run_gives_its_best_dev_metrics_so_far_and_no_test_metrics(tmp_path):
    run = tmp_path / "samples_5_seed3"
    run.mkdir()
    (run / "config.json").write_text("{}")
    version = {"commit": "c" * 40, "seal_commit": "5" * 40, "seal_dirty": False}
    (run / common.VERSION_FILE).write_text(json.dumps(version))
    for epoch in range(3):
        (run / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
            {"epoch": epoch, "best_epoch": 1, "best_validation_example_f1": 0.6, "validation_example_f1": 0.5,
             "training_duration": f"0:00:{10 * (epoch + 1)}"}))
    (row,) = compact_runs.rows([str(run)])
    assert (row["run"], row["method"], row["seed"], row["finished"]) == ("samples_5_seed3", "samples_5", 3, False)
    assert (row["dev_example_f1"], row["epochs"], row["best_epoch"], row["epoch_seconds"]) == (0.6, 3, 1, 10.0)
    assert not any(key.startswith("test_") for key in row)
    assert (row["code_commit"], row["seal_commit"], row["seal_dirty"]) == ("c" * 40, "5" * 40, False)


def test_the_csv_puts_the_run_first_then_the_metrics_met_then_the_bookkeeping(tmp_path):
    path = str(tmp_path / "t.runs.csv")
    compact_runs.write_csv(path, [{"run": "a_seed1", "method": "a", "seed": 1, "finished": True, "test_accuracy": 0.5,
                                   "epochs": 2, "seal_dirty": False},
                                  {"run": "b", "method": "b", "seed": "", "finished": False, "dev_accuracy": 0.25}])
    with open(path) as handle:
        header = handle.readline().strip().split(",")
    assert header == compact_runs.FIRST + ["test_accuracy", "dev_accuracy"] + compact_runs.LAST
    first, second = compact_runs.read_csv(path)
    assert (first["finished"], first["test_accuracy"], first["seal_dirty"]) == ("true", "0.5", "false")
    assert first["dev_accuracy"] == "" and first["config_sha256"] == ""
    assert (second["seed"], second["finished"], second["dev_accuracy"]) == ("", "false", "0.25")


def test_a_table_without_run_directories_gives_the_runs_its_json_lists(tmp_path):
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"runs": [{"method": "cross_entropy", "seed": 2, "archive": "x/model.tar.gz",
                                           "test_example_f1": 0.7, "best_epoch": 3, "epochs": 5,
                                           "epoch_seconds": 1.5}]}))
    (row,) = compact_runs.table_rows(str(table))
    assert row == {"run": "cross_entropy_seed2", "method": "cross_entropy", "seed": 2, "finished": True,
                   "test_example_f1": 0.7, "epochs": 5, "best_epoch": 3, "epoch_seconds": 1.5, "recorded_in_commit": ""}


def test_the_command_line_writes_the_rows_of_every_run_below_a_folder(tmp_path):
    out = tmp_path / "fixtures.runs.csv"
    compact_runs.main([str(out), str(RUNS)])
    assert [row["run"] for row in compact_runs.read_csv(str(out))] == sorted(os.listdir(RUNS))
    with pytest.raises(SystemExit):
        compact_runs.main([str(out), str(RUNS), "--table", "t.json"])


def test_with_a_study_the_command_line_replaces_that_studys_rows_and_keeps_the_others(tmp_path):
    out = str(tmp_path / "runs.csv")
    compact_runs.main([out, str(RUNS), "--study", "probe"])
    compact_runs.main([out, str(SEAL_RUN), "--study", "another"])
    compact_runs.main([out, str(SEAL_RUN), "--study", "probe"])
    rows = compact_runs.read_csv(out)
    assert [(row["study"], row["run"]) for row in rows] == [("another", SEAL_RUN.name), ("probe", SEAL_RUN.name)]
    with open(out) as handle:
        assert handle.readline().startswith("study," + ",".join(compact_runs.FIRST) + ",")
