"""Per-run overrides of a tuning sweep (benchmarks/sweep.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
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
