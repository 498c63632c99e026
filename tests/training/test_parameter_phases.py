"""Training regimes (`parameter_phases` of the `seal` trainer, seal/training/parameter_phases.py):
a phase freezes exactly the parameters it does not train, phases switch at their epochs, also in a
run resumed with `--recover`, AdamW's weight decay leaves frozen parameters alone, and bad phases
are configuration errors.  On the CRF stage fixture (brown_pos_small_crf_stage_online.jsonnet:
unary 1 epoch, pairwise 1 epoch, then joint, with online scaling)."""
import json
import os

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models import Model
from allennlp.training import Trainer
from allennlp.training.callbacks import TrainerCallback

import seal  # noqa: F401  registers the components
from seal.training import ParameterPhases, SealTrainer
from tests.training import interruption
from tests.training.interruption import assert_same_run
from tests.util import FIXTURE_CONFIGS, read_json, read_json_lines, repo_root_cwd, train_in_process

STAGE_CONFIG = FIXTURE_CONFIGS / "brown_pos_small_crf_stage_online.jsonnet"
UNARY = r"^task_nn\.unary\."
PAIRWISE = r"^task_nn\.(transitions|start|end)$"
STAGE = [{"epochs": 1, "frozen": [PAIRWISE]}, {"epochs": 1, "frozen": [UNARY]}, {"frozen": []}]


# ---- the phases on their own ---------------------------------------------------------------------
def toy_parameters():
    module = torch.nn.ModuleDict({"unary": torch.nn.Linear(2, 2), "pairwise": torch.nn.Linear(2, 2, bias=False)})
    module["pairwise"].weight.requires_grad_(False)  # frozen by the configuration
    module["extra"] = torch.nn.Linear(2, 1)
    return list(module.named_parameters())


def test_each_epoch_is_in_its_phase_and_a_phase_trains_what_it_names():
    parameters = toy_parameters()
    phases = ParameterPhases([{"epochs": 2, "trainable": [r"^unary\."]}, {"epochs": 1, "frozen": ["bias"]},
                              {"trainable": ["weight"]}], parameters, num_epochs=10)
    assert [phases.phase_of(epoch).index for epoch in range(6)] == [0, 0, 1, 2, 2, 2]
    assert phases.phase_of(0).trained == {"unary.weight", "unary.bias"}
    assert phases.phase_of(2).trained == {"unary.weight", "extra.weight"}
    assert phases.phase_of(3).trained == {"unary.weight", "extra.weight"}
    phases.apply(2)
    requires_grad = {name: parameter.requires_grad for name, parameter in parameters}
    assert requires_grad == {"unary.weight": True, "unary.bias": False, "pairwise.weight": False,
                             "extra.weight": True, "extra.bias": False}
    phases.release()
    # a parameter frozen by the configuration stays frozen
    assert {name for name, parameter in parameters if not parameter.requires_grad} == {"pairwise.weight"}


@pytest.mark.parametrize(
    "phases, message",
    [
        ([{"epochs": 1, "trainable": ["^nothing"]}, {"frozen": []}], "matches none of the model's trainable"),
        ([{"trainable": [r"^pairwise\."]}], "matches none"),  # frozen by the configuration
        ([{"epochs": 1, "trainable": ["("]}], "is not a regex"),
        ([{"trainable": []}], "would train nothing"),
        ([{"trainable": "unary"}], "must be a list of regexes"),
        ([{"frozen": []}, {"frozen": []}], "only the last phase may omit `epochs`"),
        ([{"epochs": 0, "frozen": []}], "positive integer"),
        ([{"epochs": 1, "frozen": [], "trainable": ["unary"]}], "exactly one of"),
        ([{"epochs": 1}], "exactly one of"),
        ([{"epochs": 1, "froze": []}], "unknown keys"),
        ([{"epochs": 2, "frozen": []}, {"epochs": 1, "frozen": []}], "cover 3 epochs but the trainer runs 4"),
    ],
)
def test_bad_phases_are_configuration_errors(phases, message):
    with pytest.raises(ConfigurationError, match=message):
        ParameterPhases(phases, toy_parameters(), num_epochs=4)


# ---- in the trainer ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    params = Params.from_file(str(STAGE_CONFIG))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    with repo_root_cwd():
        instances = list(reader.read(params.pop("train_data_path")))
    return instances, Vocabulary.from_instances(instances)


class Recorder(TrainerCallback):
    """Per epoch: the parameters frozen at its first batch and the parameters the epoch changed."""

    def __init__(self):
        super().__init__("unused")
        self.frozen, self.changed, self._start = {}, {}, {}

    def on_epoch_start(self, trainer, epoch, is_primary=True, **kwargs):
        self._start = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number, is_training,
                 is_primary=True, **kwargs):
        if is_training and batch_number == 1:
            self.frozen[epoch] = {name for name, p in trainer.model.named_parameters() if not p.requires_grad}

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs):
        self.changed[epoch] = {name for name, p in trainer.model.named_parameters()
                               if not torch.equal(p, self._start[name])}


@pytest.fixture
def build(data, tmp_path):
    """build(trainer_overrides) -> the fixture's trainer without callbacks, on its 20 training
    sentences in batches of 4, unshuffled, without validation."""
    instances, vocab = data

    def _build(**trainer_overrides) -> SealTrainer:
        overrides = {"trainer.callbacks": [], **{f"trainer.{key}": value for key, value in trainer_overrides.items()}}
        params = Params.from_file(str(STAGE_CONFIG), json.dumps(overrides))
        torch.manual_seed(0)
        model = Model.from_params(vocab=vocab, params=params.pop("model"))
        loader = SimpleDataLoader(instances, 4, vocab=vocab)
        trainer = Trainer.from_params(params=params.pop("trainer"), model=model, serialization_dir=str(tmp_path),
                                      data_loader=loader)
        assert isinstance(trainer, SealTrainer)
        return trainer

    return _build


def names(model, regex):
    import re

    return {name for name, _ in model.named_parameters() if re.search(regex, name)}


def test_stage_phases_freeze_exactly_the_other_parameters_and_switch_at_their_epochs(build):
    trainer = build(parameter_phases=STAGE, num_epochs=4, checkpointer=None)
    recorder = Recorder()
    trainer._callbacks.append(recorder)
    model = trainer.model
    unary, pairwise = names(model, UNARY), names(model, PAIRWISE)
    assert pairwise == {"task_nn.transitions", "task_nn.start", "task_nn.end"} and len(unary) > 3
    trainer.train()
    assert recorder.frozen == {0: pairwise, 1: unary, 2: set(), 3: set()}
    # each epoch changed only what it trained (the pairwise potentials move from 0 in epoch 1 only
    # after the unary epoch), and changed both kinds once joint
    assert recorder.changed[0] <= unary and "task_nn.unary.encoder._module.weight_hh_l0" in recorder.changed[0]
    assert recorder.changed[1] == pairwise
    assert recorder.changed[2] >= pairwise and recorder.changed[2] & unary
    # after training every parameter is trainable again
    assert all(parameter.requires_grad for parameter in model.parameters())


def test_a_frozen_parameter_is_left_alone_by_adamw_weight_decay_and_gets_no_optimizer_state(build):
    strong = {"task_nn": {"type": "adamw", "lr": 0.1, "weight_decay": 0.5}}
    trainer = build(parameter_phases=[{"epochs": 1, "frozen": [UNARY]}, {"frozen": []}], optimizers=strong)
    model = trainer.model
    unary = names(model, UNARY)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    batch = next(iter(trainer.data_loader))
    trainer._enter_phase(0)
    trainer._train_batch(batch, model.active_steps(0))
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == names(model, PAIRWISE)
    optimizer = trainer.optimizer["task_nn"]
    frozen_ids = {id(p) for name, p in model.named_parameters() if name in unary}
    assert frozen_ids <= {id(p) for group in optimizer.param_groups for p in group["params"]}  # in the optimizer
    assert not frozen_ids & {id(p) for p in optimizer.state}  # without state
    # the control: in the joint phase the same step moves them
    trainer._enter_phase(1)
    trainer._train_batch(batch, model.active_steps(1))
    assert all(not torch.equal(p, before[name]) for name, p in model.named_parameters()
               if name in unary and before[name].any())


def test_a_phase_naming_no_parameter_is_a_configuration_error(build):
    with pytest.raises(ConfigurationError, match=r"'\^task_nn\\\\.crf\\\\.' matches none"):
        build(parameter_phases=[{"epochs": 1, "trainable": [r"^task_nn\.crf\."]}, {"frozen": []}])


def test_no_phases_is_joint_training(build):
    trainer = build(parameter_phases=[], num_epochs=1, checkpointer=None)
    recorder = Recorder()
    trainer._callbacks.append(recorder)
    trainer.train()
    assert recorder.frozen == {0: set()}


# ---- --recover ------------------------------------------------------------------------------------
PHASE_LOG = "SEAL_TEST_PHASE_LOG"


@TrainerCallback.register("seal-test-phase-log", exist_ok=True)
class PhaseLog(TrainerCallback):
    """Appends `{"epoch", "batch", "frozen", "unary_scale"}` of every training batch to the file
    named by $SEAL_TEST_PHASE_LOG (nothing without it)."""

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number, is_training,
                 is_primary=True, **kwargs):
        if not is_training or PHASE_LOG not in os.environ:
            return
        frozen = sorted(name for name, p in trainer.model.named_parameters() if not p.requires_grad)
        record = {"epoch": epoch, "batch": batch_number, "frozen": frozen,
                  "unary_scale": float(trainer.model.task_nn.unary_scale)}
        with open(os.environ[PHASE_LOG], "a") as file:
            file.write(json.dumps(record) + "\n")


OVERRIDES = {
    "trainer.num_epochs": interruption.NUM_EPOCHS,
    "trainer.checkpointer.save_every_num_batches": 2,
    "trainer.callbacks": [
        {"type": "online-unary-scale", "num_batches": 2, "grid": [0.5, 1, 2]},
        {"type": "seal-test-interruption"},
        {"type": "seal-test-phase-log"},
    ],
}


def train(run, monkeypatch, interrupt_at=None, **kwargs):
    with monkeypatch.context() as patch:
        patch.setenv(PHASE_LOG, str(run.parent / f"{run.name}.phases.jsonl"))
        if interrupt_at is not None:
            patch.setenv(interruption.AT, "{},{}".format(*interrupt_at))
            patch.setenv(interruption.BY, "raise")
        return train_in_process(STAGE_CONFIG, run, OVERRIDES, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("stage") / "uninterrupted"
    train(run, pytest.MonkeyPatch())
    return run


def test_the_uninterrupted_run_trains_the_phases_and_logs_the_norm_ratio(uninterrupted):
    records = read_json_lines(uninterrupted.parent / "uninterrupted.phases.jsonl")
    frozen = {record["epoch"]: record["frozen"] for record in records}
    assert frozen[0] == ["task_nn.end", "task_nn.start", "task_nn.transitions"]
    assert frozen[1] and all(name.startswith("task_nn.unary.") for name in frozen[1])
    assert frozen[2] == []
    scales = {record["epoch"]: record["unary_scale"] for record in records}
    assert scales[0] == 1.0 and {scales[1], scales[2]} <= {0.25, 0.5, 1.0, 2.0, 4.0}
    for epoch in range(interruption.NUM_EPOCHS):
        metrics = read_json(uninterrupted / f"metrics_epoch_{epoch}.json")
        assert metrics["training_unary_scale"] == scales[epoch] and metrics["training_unary_norm"] > 0
        if epoch == 0:  # the pairwise potentials are 0 in the unary phase: no finite ratio
            assert metrics["training_pairwise_norm"] == 0 and "training_norm_ratio" not in metrics
        else:
            assert metrics["training_norm_ratio"] == pytest.approx(
                metrics["training_unary_norm"] / metrics["training_pairwise_norm"])
    assert read_json(uninterrupted / "metrics.json")["test_accuracy"] >= 0


@pytest.mark.parametrize("interrupt_at", [(1, 3), (2, 1)], ids=["mid-pairwise-phase", "joint-phase-start"])
def test_a_resumed_run_is_in_the_phase_and_scale_of_the_uninterrupted_one(tmp_path, monkeypatch, uninterrupted,
                                                                         interrupt_at):
    run = tmp_path / "run"
    with pytest.raises(interruption.Interrupted):
        train(run, monkeypatch, interrupt_at)
    (tmp_path / "run.phases.jsonl").unlink()
    train(run, monkeypatch, recover=True)
    resumed = read_json_lines(tmp_path / "run.phases.jsonl")
    reference = {(record["epoch"], record["batch"]): record
                 for record in read_json_lines(uninterrupted.parent / "uninterrupted.phases.jsonl")}
    assert resumed and resumed[0]["epoch"] == interrupt_at[0]
    assert all(record == reference[record["epoch"], record["batch"]] for record in resumed)
    assert_same_run(run, uninterrupted)
