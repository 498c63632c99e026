"""End to end: the `allennlp` command line (train, predict, evaluate) on the tiny scene fixture with
the real multilabel config code, then `--recover` and distributed training through the Python API.

Every `allennlp` subprocess pays ~10 s of imports, so there are three of them: one training run
(module-scoped, its archive is reused), one `predict` and one `evaluate`.  Recovery and distributed
training run in-process with `train_model_from_file`."""
import json
import math
import socket

import pytest
import torch
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from allennlp.training.callbacks import TrainerCallback

from seal.data import ArffDatasetReader
from tests.util import (
    CROSS_ENTROPY_CONFIG,
    SCENE_LABELS,
    SCENE_NUM_FEATURES,
    SCENE_SMALL,
    SEAL_CONFIG,
    configured_num_steps,
    read_json,
    read_json_lines,
    run_allennlp,
    train_in_process,
)

TEST_FILE = SCENE_SMALL / "scene-test.arff"
SPARSE_FEATURES = {"3": 0.5, "100": 1.0}
NUM_DENSE_ROWS = 3
BATCHES_PER_EPOCH = 5  # 40 training rows, batch size 8


# ---- one command-line training run, reused ---------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Serialization directory of `allennlp train <fixture seal config>` (2 epochs)."""
    serialization_dir = tmp_path_factory.mktemp("e2e") / "seal"
    run_allennlp("train", SEAL_CONFIG, "-s", serialization_dir)
    return serialization_dir


def test_train_writes_archive_metrics_and_tensorboard_logs(trained):
    assert (trained / "model.tar.gz").is_file()
    metrics = read_json(trained / "metrics.json")
    assert metrics["epoch"] == 1  # 0-based last epoch (AllenNLP 2.10 writes no "training_epochs")
    for key in ("test_example_f1", "best_validation_example_f1", "training_score_nn_loss", "training_task_nn_loss"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_example_f1"] <= 1.0
    # the tensorboard callback of the config
    for split in ("train", "validation"):
        events = list((trained / "log" / split).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, split
    config = read_json(trained / "config.json")
    assert config["trainer"]["type"] == "seal" and config["model"]["type"] == "seal-dynamic"


# ---- predict ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictions(trained):
    """(inputs, outputs) of `allennlp predict` on the first test rows (dense), a sparse line and
    the dense copy of that sparse line."""
    reader = ArffDatasetReader()
    rows = [instance for _, instance in zip(range(NUM_DENSE_ROWS), reader.read(str(TEST_FILE)))]
    inputs = [{"features": instance["x"].tensor.tolist()} for instance in rows]
    inputs.append({"features": SPARSE_FEATURES})
    dense_copy = [0.0] * SCENE_NUM_FEATURES
    for index, value in SPARSE_FEATURES.items():
        dense_copy[int(index)] = value
    inputs.append({"features": dense_copy})
    input_file = trained.parent / "inputs.jsonl"
    input_file.write_text("".join(json.dumps(line) + "\n" for line in inputs))
    output_file = trained.parent / "predictions.jsonl"
    run_allennlp("predict", trained / "model.tar.gz", input_file, "--output-file", output_file, "--silent")
    return inputs, read_json_lines(output_file)


def test_predict_writes_one_prediction_per_line_and_sparse_equals_dense(predictions):
    inputs, outputs = predictions
    assert len(outputs) == len(inputs)
    assert all(isinstance(output, dict) and output for output in outputs)
    assert outputs[-2] == outputs[-1]  # {"3": 0.5, "100": 1.0} and its dense copy


def check_documented_prediction(output):
    """The prediction documented by README.md and `SealPredictor`: `predicted_labels`,
    `label_probabilities` (one probability per label) and `probabilities` (the raw vector)."""
    probabilities = output["label_probabilities"]
    assert set(probabilities) == set(SCENE_LABELS)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert set(output["predicted_labels"]) <= set(SCENE_LABELS)
    assert sorted(output["predicted_labels"]) == sorted(name for name, p in probabilities.items() if p >= 0.5)
    assert len(output["probabilities"]) == len(SCENE_LABELS)


def test_predict_output_has_documented_keys(predictions):
    _, outputs = predictions
    for output in outputs:
        check_documented_prediction(output)


def test_predictor_ignores_gold_labels(trained):
    predictor = Predictor.from_archive(load_archive(str(trained / "model.tar.gz")))
    with_gold = predictor.predict_json({"features": SPARSE_FEATURES, "labels": ["Beach"]})
    assert with_gold == predictor.predict_json({"features": SPARSE_FEATURES})


# ---- evaluate --------------------------------------------------------------------------------
def test_evaluate_reproduces_the_test_metrics_of_training(trained):
    output_file = trained.parent / "evaluation.json"
    run_allennlp("evaluate", trained / "model.tar.gz", TEST_FILE, "--output-file", output_file)
    evaluated = read_json(output_file)
    trained_metrics = read_json(trained / "metrics.json")
    assert evaluated["example_f1"] == pytest.approx(trained_metrics["test_example_f1"], abs=1e-6)
    assert evaluated["hamming_loss"] == pytest.approx(trained_metrics["test_hamming_loss"], abs=1e-6)


# ---- --recover -------------------------------------------------------------------------------
class Interrupted(RuntimeError):
    pass


# Where the next run is interrupted ({"epoch": e} or {"batch": (e, b)}), and what it trained.
INTERRUPT = {}
SEEN = {"epochs": [], "batches": []}


@TrainerCallback.register("seal-test-interrupt", exist_ok=True)
class InterruptCallback(TrainerCallback):
    """Records the epochs and training batches it sees; raises `Interrupted` where `INTERRUPT`
    says.  The config of the interrupted and of the recovering run must be identical, so the
    callback is in both and only the module-level `INTERRUPT` differs."""

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                 is_training, is_primary=True, batch_grad_norm=None, **kwargs):
        if is_training:
            SEEN["batches"].append((epoch, batch_number))
            if INTERRUPT.get("batch") == (epoch, batch_number):
                raise Interrupted(f"epoch {epoch}, batch {batch_number}")

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs):
        SEEN["epochs"].append(epoch)
        if INTERRUPT.get("epoch") == epoch:
            raise Interrupted(f"end of epoch {epoch}")


def train_recording(serialization_dir, overrides, interrupt=None, **kwargs):
    INTERRUPT.clear()
    INTERRUPT.update(interrupt or {})
    SEEN["epochs"].clear()
    SEEN["batches"].clear()
    try:
        return train_in_process(SEAL_CONFIG, serialization_dir, overrides, **kwargs)
    finally:
        INTERRUPT.clear()


def optimizer_steps(training_state_file):
    """Optimizer steps taken by each module, from a checkpoint's per-module AdamW states."""
    state = torch.load(training_state_file, weights_only=False)
    return {name: int(next(iter(opt["state"].values()))["step"]) for name, opt in state["optimizer"].items()}


@pytest.mark.parametrize(
    "interrupt, checkpointer, resumed_batches",
    [
        # on_epoch of epoch 1 runs before that epoch's checkpoint: epoch 1 is trained again
        ({"epoch": 1}, {}, [(e, b) for e in (1, 2) for b in range(1, BATCHES_PER_EPOCH + 1)]),
        # a checkpoint every 2 batches: the last one before batch 3 of epoch 1 is e1_b2
        ({"batch": (1, 3)}, {"save_every_num_batches": 2},
         [(1, b) for b in (3, 4, 5)] + [(2, b) for b in range(1, BATCHES_PER_EPOCH + 1)]),
    ],
    ids=["end-of-epoch", "mid-epoch"],
)
def test_recover_resumes_an_interrupted_run(tmp_path, interrupt, checkpointer, resumed_batches):
    serialization_dir = tmp_path / "run"
    overrides = {
        "trainer.num_epochs": 3,
        "trainer.callbacks": [{"type": "tensorboard"}, {"type": "seal-test-interrupt"}],
    }
    if checkpointer:
        overrides["trainer.checkpointer"] = checkpointer
    with pytest.raises(Interrupted):
        train_recording(serialization_dir, overrides, interrupt)
    assert not (serialization_dir / "metrics.json").exists()
    epoch_0 = serialization_dir / "metrics_epoch_0.json"
    epoch_0_before = (epoch_0.read_bytes(), epoch_0.stat().st_mtime_ns)

    train_recording(serialization_dir, overrides, recover=True)

    assert SEEN["batches"] == resumed_batches  # nothing before the checkpoint was trained again
    assert SEEN["epochs"] == [1, 2]
    assert (epoch_0.read_bytes(), epoch_0.stat().st_mtime_ns) == epoch_0_before
    metrics = read_json(serialization_dir / "metrics.json")
    assert metrics["epoch"] == 2  # the 0-based last epoch: all 3 ran
    assert "test_example_f1" in metrics
    assert (serialization_dir / "model.tar.gz").is_file()
    # Both modules' optimizer states were restored: 3 epochs of 5 batches, num_steps each per batch.
    steps = optimizer_steps(serialization_dir / "training_state_e3_b0.th")
    assert steps == {module: 3 * BATCHES_PER_EPOCH * n for module, n in configured_num_steps().items()}


# ---- distributed -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    """(serialization dir, error or None) of the fixture config (evaluate_on_test included, as in
    README's distributed command) on 2 CPU workers over gloo, in-process (`mp.spawn` workers)."""
    serialization_dir = tmp_path_factory.mktemp("ddp") / "run"
    # AllenNLP 2.10 calls the port "primary_port" (without it, it finds a free one itself).
    overrides = {"distributed": {"cuda_devices": [-1, -1], "primary_port": free_port()}}
    try:
        train_in_process(SEAL_CONFIG, serialization_dir, overrides, include_package=["seal"])
    except Exception as error:  # noqa: BLE001 - judged by the tests below
        return serialization_dir, error
    return serialization_dir, None


def test_distributed_training_runs_every_epoch_on_two_workers(distributed_run):
    serialization_dir, _ = distributed_run
    assert (serialization_dir / "out_worker1.log").is_file()  # the second worker ran
    assert (serialization_dir / "best.th").is_file()
    for epoch in (0, 1):
        metrics = read_json(serialization_dir / f"metrics_epoch_{epoch}.json")
        assert metrics["epoch"] == epoch
        for key in ("training_score_nn_loss", "training_task_nn_loss", "validation_example_f1"):
            assert math.isfinite(metrics[key]), (epoch, key)
    # per-module optimizer states were checkpointed: 20 rows per worker, batches of 8 -> 3 batches
    # an epoch, 2 epochs, num_steps optimizer steps per batch
    steps = optimizer_steps(serialization_dir / "training_state_e2_b0.th")
    assert steps == {module: 2 * 3 * n for module, n in configured_num_steps().items()}


def test_distributed_training_evaluates_on_test_and_archives(distributed_run):
    serialization_dir, error = distributed_run
    if error is not None:
        raise error
    assert (serialization_dir / "model.tar.gz").is_file()
    metrics = read_json(serialization_dir / "metrics.json")
    assert metrics["epoch"] == 1
    assert 0.0 <= metrics["test_example_f1"] <= 1.0
    model = load_archive(str(serialization_dir / "model.tar.gz")).model
    assert model.task_nn is not None and model.score_nn is not None


# ---- the cross-entropy fixture config ----------------------------------------------------------
def test_cross_entropy_fixture_config_trains_in_process(tmp_path):
    model = train_in_process(CROSS_ENTROPY_CONFIG, tmp_path / "ce", {"trainer.num_epochs": 1})
    metrics = read_json(tmp_path / "ce" / "metrics.json")
    assert "test_example_f1" in metrics and "training_task_nn_loss" in metrics
    assert "training_score_nn_loss" not in metrics
    assert model.score_nn is None


def test_a_seal_run_can_start_its_task_nn_from_a_cross_entropy_run(tmp_path):
    """Both configs name the task-net's parameters alike, so AllenNLP's `pretrained` initializer
    (as in the grid debtags_minilm_frozen_nce_warm_start of benchmarks/tuning/grids.json) copies them over."""
    from allennlp.common import Params
    from allennlp.data import Vocabulary
    from allennlp.models import Model

    train_in_process(CROSS_ENTROPY_CONFIG, tmp_path / "ce", {"trainer.num_epochs": 1})
    weights = str(tmp_path / "ce" / "best.th")
    warm_start = {"regexes": [["^task_nn\\.", {"type": "pretrained", "weights_file_path": weights}]]}
    vocab = Vocabulary.from_files(tmp_path / "ce" / "vocabulary")

    def seal_model(overrides):
        params = Params.from_file(str(SEAL_CONFIG), params_overrides=json.dumps(overrides))
        return Model.from_params(vocab=vocab, params=params.pop("model"))

    cross_entropy = torch.load(weights)
    task_nn = {name: p for name, p in seal_model({"model.initializer": warm_start}).named_parameters()
               if name.startswith("task_nn.")}
    cold = dict(seal_model({}).named_parameters())
    assert task_nn and all(torch.equal(p, cross_entropy[name]) for name, p in task_nn.items())
    assert not all(torch.equal(cold[name], cross_entropy[name]) for name in task_nn)
