"""The OCR CRF benchmark of objectives x training regimes (benchmarks/crf_scaling.py): the
overrides that make each regime of a shipped config, choosing the offline alpha on dev, the issue's
checks, and the script end to end on the OCR fixture."""
import csv
import json
import os
import subprocess
import sys

import pytest
from allennlp.common import Params

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import crf_scaling  # noqa: E402

CONFIG = os.path.join(ROOT, "training_configs", "sequence_tagging", "ocr_crf_loglik.jsonnet")
UNARY = "^task_nn\\.unary\\."
PAIRWISE = "^task_nn\\.(transitions|start|end)$"


def with_regime(regime, **options):
    """The shipped log-likelihood config under `regime`'s overrides, as `allennlp train -o` reads it."""
    overrides = crf_scaling.regime_overrides(regime, crf_scaling.evaluated(CONFIG), **options)
    return overrides, Params.from_file(CONFIG, params_overrides=json.dumps(overrides)).as_dict(quiet=True)


def test_the_shipped_config_is_the_joint_regime_of_a_per_letter_crf():
    overrides, config = with_regime("joint")
    assert overrides == {}
    assert config["model"]["type"] == "cross-entropy" and config["model"]["task_nn_loss"] == {"type": "cross-entropy"}
    task_nn = config["model"]["task_nn"]
    assert task_nn["type"] == "linear-chain-crf" and "scaling" not in task_nn
    assert task_nn["unary"]["type"] == "letter-cnn" and "encoder" not in task_nn["unary"]  # no recurrent layer
    assert "parameter_phases" not in config["trainer"]
    assert [callback["type"] for callback in config["trainer"]["callbacks"]] == ["tensorboard"]


def test_stage_trains_the_unaries_then_the_pairwise_potentials_then_both_without_early_stopping():
    overrides, config = with_regime("stage", stage_epochs=[20, 10])
    assert set(overrides) == {"trainer.parameter_phases", "trainer.patience"}
    assert config["trainer"]["parameter_phases"] == [{"epochs": 20, "frozen": [PAIRWISE]},
                                                     {"epochs": 10, "frozen": [UNARY]}, {"frozen": []}]
    assert config["trainer"]["patience"] is None
    assert config["trainer"]["num_epochs"] == 50  # the rest of the trainer is the config's
    _, until_the_end = with_regime("stage", stage_epochs=[5])
    assert until_the_end["trainer"]["parameter_phases"] == [{"epochs": 5, "frozen": [PAIRWISE]}, {"frozen": [UNARY]}]


def test_online_adds_the_grid_search_to_the_configs_callbacks():
    _, config = with_regime("online", online_batches=7)
    assert config["trainer"]["callbacks"] == [{"type": "tensorboard"}, {"type": "online-unary-scale", "num_batches": 7}]


def test_the_offline_regimes_set_the_crf_task_nets_scaling_options():
    _, normalise = with_regime("offline_normalise", alpha=8.0)
    task_nn = normalise["model"]["task_nn"]
    assert (task_nn["scaling"], task_nn["alpha"], task_nn["unary"]["type"]) == ("normalise", 8.0, "letter-cnn")
    _, regulariser = with_regime("offline_regulariser", alpha=2.0, ratio_lambda=0.5)
    task_nn = regulariser["model"]["task_nn"]
    assert (task_nn["ratio_regularizer"], task_nn["alpha"]) == (0.5, 2.0) and "scaling" not in task_nn
    with pytest.raises(ValueError, match="needs alpha"):
        crf_scaling.regime_overrides("offline_normalise", {})
    with pytest.raises(ValueError, match="unknown regime"):
        crf_scaling.regime_overrides("warm", {})


def test_cells_run_each_alpha_of_the_offline_regimes_and_the_table_reports_the_best_on_dev():
    cells = crf_scaling.variants(["ssvm"], ["joint", "offline_normalise"], [2.0, 4.0])
    assert [cell["name"] for cell in cells] == ["ssvm_joint", "ssvm_offline_normalise_alpha2",
                                               "ssvm_offline_normalise_alpha4"]
    dev = {"ssvm_joint": [0.9, 0.9], "ssvm_offline_normalise_alpha2": [0.95, 0.93],
           "ssvm_offline_normalise_alpha4": [0.92, 0.94]}
    runs = [{"method": name, "seed": seed, "test_accuracy": 0.5 + accuracy / 10, "test_sequence_accuracy": 0.1,
             "best_validation_accuracy": accuracy, "epochs": 3, "best_epoch": 1, "epoch_seconds": 2.0}
            for name, values in dev.items() for seed, accuracy in zip((1, 2), values)]
    table = crf_scaling.summarise(cells, runs)
    assert [(entry["method"], entry["chosen"]) for entry in table] == [
        ("ssvm_joint", True), ("ssvm_offline_normalise_alpha2", True), ("ssvm_offline_normalise_alpha4", False)]
    assert table[1]["dev_accuracy_mean"] == pytest.approx(0.94) and table[1]["seeds"] == 2
    assert crf_scaling.chosen(table)["ssvm", "offline_normalise"]["alpha"] == 2.0


def test_the_issues_checks_compare_joint_and_online_with_stage_for_the_papers_cross_entropy():
    def entry(regime, accuracy):
        return {"objective": crf_scaling.GOAL_OBJECTIVE, "regime": regime, "accuracy_mean": accuracy, "chosen": True}

    lines = crf_scaling.checks([entry("stage", 0.9718), entry("joint", 0.9648), entry("online", 0.9725)])
    assert lines == [
        "- marginal_ce, joint minus stage: -0.70 points (the paper: joint without scaling below stage: yes)",
        "- marginal_ce, online minus stage: +0.07 points (issue goal: online at least stage: met)",
        "- best cell: marginal_ce / online, 97.25% (issue goal: at least 97.2%: met)"]


def test_benchmark_trains_each_regime_and_writes_its_table_and_the_norm_ratio_plot(tmp_path):
    # Run from the repository root: the fixture configs' data paths start there.
    runs, results = tmp_path / "runs", tmp_path / "results"
    command = [sys.executable, "benchmarks/crf_scaling.py", "--config-dir", "fixtures/configs",
               "--config-prefix", "ocr_small_crf", "--objectives", "loglik", "--regimes", "stage", "online",
               "--seeds", "1", "--stage-epochs", "1", "1", "--online-batches", "2",
               "--runs-dir", str(runs), "--results-dir", str(results),
               "--allow-dirty"]  # the working tree's seal/ may hold uncommitted edits
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)

    assert sorted(os.listdir(results)) == ["ocr-crf-norm-ratio.png", "ocr-crf-scaling.json", "ocr-crf-scaling.md",
                                           "ocr-crf-scaling.png", "ocr-crf-scaling.runs.csv"]
    record = json.loads((results / "ocr-crf-scaling.json").read_text())
    assert record["seeds"] == [1]
    assert [(entry["method"], entry["seeds"]) for entry in record["summary"]] == [("loglik_stage", 1),
                                                                                  ("loglik_online", 1)]
    for entry, run in zip(record["summary"], record["runs"]):
        metrics = json.loads((runs / f"{entry['method']}_seed1" / "metrics.json").read_text())
        assert entry["accuracy_mean"] == run["test_accuracy"] == metrics["test_accuracy"]
        assert entry["dev_accuracy_mean"] == metrics["best_validation_accuracy"]
        assert [row["epoch"] for row in run["norms"]] == [1, 2]
    stage, online = record["runs"]
    # the overrides reached the runs: the stage phases and the online grid search
    stage_config = json.loads((runs / "loglik_stage_seed1" / "config.json").read_text())
    assert [phase.get("epochs") for phase in stage_config["trainer"]["parameter_phases"]] == [1, 1, None]
    online_config = json.loads((runs / "loglik_online_seed1" / "config.json").read_text())
    assert online_config["trainer"]["callbacks"][-1] == {"type": "online-unary-scale", "num_batches": 2}
    assert stage["norms"][0]["norm_ratio"] is None and stage["norms"][1]["norm_ratio"] > 0  # W = 0 in the unary phase
    assert all(row["norm_ratio"] > 0 for row in online["norms"])
    assert [row["unary_scale"] for row in stage["norms"]] == [1.0, 1.0]
    table = (results / "ocr-crf-scaling.md").read_text()
    assert "| objective | stage | online |" in table and "| log-likelihood | " in table
    assert "ocr-crf-norm-ratio.png" in table
    with open(results / "ocr-crf-scaling.runs.csv") as handle:
        assert sorted(row["run"] for row in csv.DictReader(handle)) == ["loglik_online_seed1", "loglik_stage_seed1"]
