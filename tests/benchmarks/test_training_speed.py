"""benchmarks/training_speed.py: epoch times and test-time rates of every shipped method, as ratios
to cross-entropy's, on the scene_small fixture configs with a tiny cap."""
import json
import os
import sys

import pytest

from tests.util import FIXTURE_CONFIGS

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402
import training_speed  # noqa: E402


@pytest.fixture
def fixture_configs(monkeypatch):
    """Every data set's configs are the scene_small fixture's (cross-entropy and SEAL-dynamic NCE)."""
    monkeypatch.setattr(training_speed, "config_path",
                        lambda dataset, method: str(FIXTURE_CONFIGS / f"scene_small_{method}.jsonnet"))


def test_a_tiny_run_writes_epoch_times_rates_and_ratios(tmp_path, fixture_configs):
    out = tmp_path / "speed"
    training_speed.main(["--datasets", "scene", "--max-batches", "2", "--max-validation-batches", "1",
                         "--rounds", "2", "--repeats", "1", "--max-test-instances", "8", "--unshared",
                         "--allow-dirty", "--out", str(out)])
    record = json.loads((tmp_path / "speed.json").read_text())
    assert record["threads"] == 1 and "seal_dirty" in record["code_version"]
    rows = {row["method"]: row for row in record["rows"]}
    # the fixture ships no other method; --unshared adds SEAL with a task-net forward at every step
    assert list(rows) == ["cross_entropy", "seal_dynamic_nce", "seal_dynamic_nce unshared"]
    for row in rows.values():
        assert row["batches_per_epoch"] == 2
        assert len(row["epoch_seconds"]) == len(row["validation_seconds"]) == 2
        assert all(seconds > 0 for seconds in row["epoch_seconds"] + row["validation_seconds"])
        assert row["examples_per_second"] > 0
    assert rows["cross_entropy"]["epoch_cost"] == rows["cross_entropy"]["test_cost"] == 1.0
    seal = rows["seal_dynamic_nce"]
    assert seal["epoch_cost"] == pytest.approx(
        seal["median_epoch_seconds"] / rows["cross_entropy"]["median_epoch_seconds"])
    text = (tmp_path / "speed.md").read_text()
    assert "| scene | seal_dynamic_nce | 2 |" in text and "epoch / cross-entropy's" in text
    assert "Code: commit `" in text and "Machine: " in text


def test_ratios_are_of_medians_over_rounds_against_the_data_sets_cross_entropy():
    rows = [
        {"dataset": "a", "method": "cross_entropy", "epoch_seconds": [1.0, 3.0, 2.0],
         "validation_seconds": [1.0, 1.0, 1.0], "examples_per_second": 100.0},
        {"dataset": "a", "method": "seal_dynamic_nce", "epoch_seconds": [4.0, 9.0, 5.0],
         "validation_seconds": [2.0, 2.0, 2.0], "examples_per_second": 80.0},
        {"dataset": "b", "method": "seal_dynamic_nce", "epoch_seconds": [1.0],
         "validation_seconds": [1.0], "examples_per_second": 1.0},
    ]
    a_ce, a_seal, b_seal = training_speed.with_ratios(rows)
    assert a_ce["epoch_cost"] == 1.0
    assert a_seal["median_epoch_seconds"] == 5.0 and a_seal["epoch_cost"] == 2.5  # 5 / 2
    assert a_seal["validated_epoch_cost"] == pytest.approx(7.0 / 3.0)  # medians of 6, 11, 7 and of 2, 4, 3
    assert a_seal["test_cost"] == 1.25  # 100 / 80 examples per second
    assert "epoch_cost" not in b_seal  # no cross-entropy row for data set b
    assert "epoch_seconds" in rows[0] and "epoch_cost" not in rows[0]  # the input is not changed


def test_an_unshared_model_runs_its_task_net_at_every_step(fixture_configs, tmp_path):
    built = training_speed.build(training_speed.config_path("scene", "seal_dynamic_nce"), str(tmp_path), 1,
                                 max_batches=1)
    calls = []
    built.model.task_nn.register_forward_hook(lambda *_: calls.append(1))
    steps = built.model.active_steps(0)
    num_steps = sum(built.trainer._num_steps.get(step, 1) for step in steps)
    assert num_steps > 2  # else sharing would save nothing
    training_speed.train_epoch(built.trainer, 0)
    assert len(calls) == 1
    training_speed.unshare(built.model)
    training_speed.train_epoch(built.trainer, 1)
    assert len(calls) == 1 + num_steps


def test_a_dirty_tree_is_refused_unless_allowed(monkeypatch):
    monkeypatch.setattr(common, "code_version", lambda: {"commit": "c" * 40, "seal_dirty": True})
    with pytest.raises(SystemExit, match="uncommitted changes"):
        training_speed.check_version(allow_dirty=False)
    assert training_speed.check_version(allow_dirty=True)["seal_dirty"] is True
    monkeypatch.setattr(common, "code_version", lambda: {"commit": "c" * 40, "seal_dirty": False})
    assert training_speed.check_version(allow_dirty=False)["seal_dirty"] is False


def test_the_capped_loader_yields_at_most_its_cap_per_pass():
    loader = training_speed.CappedLoader([[1], [2], [3]], 2)
    assert len(loader) == 2 and list(loader) == [[1], [2]] and list(loader) == [[1], [2]]
    assert len(training_speed.CappedLoader([[1], [2], [3]], None)) == 3
    assert list(training_speed.CappedLoader([[1]], 5)) == [[1]] and len(training_speed.CappedLoader([[1]], 5)) == 1


def test_the_shipped_methods_of_each_data_set_and_the_phases_of_a_two_phase_model():
    assert training_speed.shipped_methods("scene") == list(training_speed.METHODS)
    assert training_speed.shipped_methods("ocr") == ["cross_entropy", "seal_dynamic_nce"]
    assert training_speed.shipped_methods("debtags-bow") == ["cross_entropy", "seal_dynamic_nce"]
    assert "seal_static_nce" in training_speed.shipped_methods("wnut16")

    class TwoPhase:
        first_phase_epochs = 4

    assert training_speed.phases(TwoPhase()) == [(" (phase 1)", 0), (" (phase 2)", 4)]
    assert training_speed.phases(object()) == [("", 0)]
