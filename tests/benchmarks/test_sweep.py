"""A tuning sweep (benchmarks/sweep.py): its grid by name or file, per-run overrides, and its runs' rows
in the studies' shared runs.csv."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402
import compact_runs  # noqa: E402
import sweep  # noqa: E402


def test_seed_fills_placeholders_in_nested_strings_and_sets_every_seed():
    initializer = {"type": "pretrained", "weights_file_path": "runs/ce_seed{seed}/best.th"}
    overrides = {"model.initializer": {"regexes": [["^task_nn\\.", initializer]]}, "trainer.num_epochs": 3}
    filled = sweep.for_seed(overrides, 2)
    assert filled["model.initializer"]["regexes"][0] == ["^task_nn\\.", {"type": "pretrained",
                                                                          "weights_file_path": "runs/ce_seed2/best.th"}]
    assert filled["trainer.num_epochs"] == 3
    assert (filled["random_seed"], filled["numpy_seed"], filled["pytorch_seed"]) == (2, 2, 2)
    assert "{seed}" in overrides["model.initializer"]["regexes"][0][1]["weights_file_path"]


def test_names_select_grid_entries_and_an_unknown_name_is_refused():
    grid = {"a": {"x": 1}, "b": {"x": 2}}
    assert sweep.select(grid, None, "g.json") == grid
    assert sweep.select(grid, ["b"], "g.json") == {"b": {"x": 2}}
    with pytest.raises(SystemExit, match="g.json has no entries \\['c'\\]"):
        sweep.select(grid, ["c"], "g.json")


def test_a_grid_name_is_looked_up_in_grids_json_and_a_path_reads_that_file(tmp_path):
    with open(sweep.GRIDS) as handle:
        grids = json.load(handle)
    assert sweep.load_grid("shipped") == grids["shipped"] == {"shipped": {}}
    assert sweep.load_grid("scene_seal_nce_round3") == grids["scene_seal_nce_round3"]
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"k3": {"trainer.num_steps.score_nn": 3}}))
    assert sweep.load_grid(str(own)) == {"k3": {"trainer.num_steps.score_nn": 3}}


def test_an_unknown_grid_name_is_refused_with_the_known_names(tmp_path):
    grids = tmp_path / "grids.json"
    grids.write_text(json.dumps({"b": {}, "a": {"x": {"y": 1}}}))
    assert sweep.load_grid("a", str(grids)) == {"x": {"y": 1}}
    with pytest.raises(SystemExit, match="--grid nope: no such file, and .*grids.json has no grid of that name; "
                                         "its grids: a, b$"):
        sweep.load_grid("nope", str(grids))
    with pytest.raises(SystemExit, match="its grids: .*shipped"):
        sweep.load_grid("no_such_grid")


def test_the_study_is_named_after_the_table_unless_given():
    assert sweep.study_name("/tmp/x/scene_seal_nce_round4.md") == "scene_seal_nce_round4"
    assert sweep.study_name("/tmp/x/table.md", "ocr_ema") == "ocr_ema"


def fake_run(runs_dir, name, seed, dev, version):
    """A finished serialization directory of the sweep's layout, with its code version."""
    run = runs_dir / f"{name}_seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"name": name}))
    (run / common.VERSION_FILE).write_text(json.dumps(version))
    metrics = {"epoch": 1, "best_epoch": 1, "best_validation_accuracy": dev, "test_accuracy": dev - 0.01,
               "training_duration": "0:00:20"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return name, seed, metrics, 20.0


def test_a_sweep_replaces_its_study_rows_in_the_shared_runs_csv_and_keeps_the_others(tmp_path):
    runs_csv = tmp_path / "runs.csv"
    other = [{"run": "a_seed1", "method": "a", "seed": 1, "finished": True, "dev_example_f1": 0.5}]
    compact_runs.replace_study(str(runs_csv), "other_study", other)
    compact_runs.replace_study(str(runs_csv), "my_study", [{"run": "old_seed1", "method": "old", "seed": 1}])
    version = {"commit": "c" * 40, "seal_commit": "5" * 40, "seal_dirty": False}
    results = [fake_run(tmp_path / "runs", "k3", seed, 0.9 + seed / 100, version) for seed in (1, 2)]
    recorded = sweep.record_runs(str(tmp_path / "runs"), results, str(runs_csv), "my_study", False)
    assert recorded["seal_commit"] == "5" * 40
    rows = compact_runs.read_csv(str(runs_csv))
    assert [(row["study"], row["run"]) for row in rows] == [("my_study", "k3_seed1"), ("my_study", "k3_seed2"),
                                                            ("other_study", "a_seed1")]
    assert (rows[1]["dev_accuracy"], rows[1]["test_accuracy"], rows[1]["seal_commit"]) == ("0.92", "0.91", "5" * 40)
    assert (rows[2]["dev_example_f1"], rows[2]["finished"], rows[2]["dev_accuracy"]) == ("0.5", "true", "")
    with open(runs_csv) as handle:
        header = handle.readline().strip().split(",")
    assert header == ["study"] + compact_runs.FIRST + ["dev_example_f1", "dev_accuracy", "test_accuracy"] + \
        compact_runs.LAST


def test_the_recorded_studies_runs_csv_has_a_study_column_and_every_grid_is_an_object_of_override_objects():
    rows = compact_runs.read_csv(sweep.RUNS_CSV)
    assert rows and all(row["study"] and row["run"] for row in rows)
    assert [row["study"] for row in rows] == sorted(row["study"] for row in rows)
    with open(sweep.GRIDS) as handle:
        grids = json.load(handle)
    assert all(isinstance(overrides, dict) for grid in grids.values() for overrides in grid.values())
