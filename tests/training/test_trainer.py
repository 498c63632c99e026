"""SealTrainer in-process, on a tiny seal-dynamic model built from the fixture config: which
parameters each step updates, `num_steps`, per-module gradient clipping, per-module optimizer and
scheduler states in checkpoints, and the configuration errors."""
import json

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models import Model
from allennlp.training import Trainer

from seal.data import ArffDatasetReader
from seal.training import SealTrainer
from tests.util import SCENE_SMALL, SEAL_CONFIG

BATCH_SIZE = 8
ADAM = {"type": "adamw", "lr": 1e-3}
ONE_STEP_EACH = {"score_nn": 1, "task_nn": 1}


@pytest.fixture(scope="module")
def data():
    instances = list(ArffDatasetReader().read(str(SCENE_SMALL / "scene-train.arff")))
    return instances, Vocabulary.from_instances(instances)


@pytest.fixture
def build(data, tmp_path):
    """build(**overrides) -> trainer of the fixture seal-dynamic config (no callbacks) with
    AllenNLP-style dotted `overrides`, on the 40 training rows in batches of 8, unshuffled."""
    instances, vocab = data

    def _build(**overrides) -> SealTrainer:
        overrides = {"trainer.callbacks": [], **{key.replace("__", "."): value for key, value in overrides.items()}}
        params = Params.from_file(str(SEAL_CONFIG), json.dumps(overrides))
        torch.manual_seed(0)
        model = Model.from_params(vocab=vocab, params=params.pop("model"))
        loader = SimpleDataLoader(instances, BATCH_SIZE, vocab=vocab)
        trainer = Trainer.from_params(
            params=params.pop("trainer"), model=model, serialization_dir=str(tmp_path), data_loader=loader
        )
        assert isinstance(trainer, SealTrainer)
        model.train()
        return trainer

    return _build


def first_batch(trainer):
    return next(iter(trainer.data_loader))


def snapshot(model):
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


def changed(model, before):
    return {name for name, parameter in model.named_parameters() if not torch.equal(parameter, before[name])}


def module_parameters(model, module):
    return {name for name, _ in model.named_parameters() if name.startswith(module + ".")}


def grads_of(model, module):
    return [p.grad for p in getattr(model, module).parameters() if p.grad is not None]


def total_norm(tensors):
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors])).item()


# ---- (a) each step updates its own module only --------------------------------------------------
@pytest.mark.parametrize("step, other", [("score_nn", "task_nn"), ("task_nn", "score_nn")])
def test_a_step_changes_only_the_parameters_of_its_module(build, step, other):
    trainer = build()
    model = trainer.model
    before = snapshot(model)
    losses, _ = trainer._train_batch(first_batch(trainer), [step])
    assert set(losses) == {step}
    updated = changed(model, before)
    assert updated <= module_parameters(model, step), updated - module_parameters(model, step)
    assert not updated & module_parameters(model, other)
    # every weight matrix of the module moved (biases may legitimately keep a zero gradient)
    weights = {name for name in module_parameters(model, step) if name.endswith("weight")}
    assert weights and weights <= updated, weights - updated


def test_score_step_leaves_the_task_nn_without_gradient(build):
    trainer = build()
    trainer._step(first_batch(trainer), "score_nn")
    assert not grads_of(trainer.model, "task_nn")
    assert grads_of(trainer.model, "score_nn")


# ---- (b) num_steps ---------------------------------------------------------------------------
def test_num_steps_runs_the_score_step_that_many_times_per_batch(build):
    trainer = build(trainer__num_steps={"score_nn": 3, "task_nn": 1}, trainer__num_epochs=1)
    model = trainer.model
    calls = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs.get("seal_step")), with_kwargs=True
    )
    trainer._train_batch(first_batch(trainer), model.active_steps(0))
    assert calls == ["score_nn", "score_nn", "score_nn", "task_nn"]

    calls.clear()
    trainer.train()  # one epoch, no validation data
    num_batches = 40 // BATCH_SIZE
    assert calls == ["score_nn", "score_nn", "score_nn", "task_nn"] * num_batches
    # the optimizers stepped accordingly: 1 + 5 batches
    steps = {
        name: int(next(iter(opt["state"].values()))["step"]) for name, opt in trainer.optimizer.state_dict().items()
    }
    assert steps == {"score_nn": 3 * (1 + num_batches), "task_nn": 1 + num_batches}


# ---- (c) per-module gradient clipping ---------------------------------------------------------
def test_clip_returns_the_pre_clip_norm_and_clips_only_its_module(build):
    max_norm = 1e-3
    trainer = build(trainer__grad_norm={"score_nn": max_norm})
    batch = first_batch(trainer)

    trainer._step(batch, "score_nn")
    pre_clip = total_norm(grads_of(trainer.model, "score_nn"))
    assert pre_clip > 10 * max_norm  # else the test would prove nothing
    assert trainer._clip("score_nn") == pytest.approx(pre_clip, rel=1e-5)
    assert total_norm(grads_of(trainer.model, "score_nn")) <= max_norm * (1 + 1e-4)

    # no grad_norm for task_nn: nothing clipped, nothing returned
    trainer._step(batch, "task_nn")
    grads = [g.clone() for g in grads_of(trainer.model, "task_nn")]
    assert trainer._clip("task_nn") is None
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_of(trainer.model, "task_nn")))


@pytest.mark.parametrize("clipped", [True, False])
def test_grad_norm_bounds_the_update_of_a_huge_learning_rate(build, clipped):
    max_norm, lr = 1e-3, 10.0
    overrides = {"trainer__optimizers": {"score_nn": {"type": "sgd", "lr": lr}, "task_nn": ADAM}}
    overrides["trainer__grad_norm"] = {"score_nn": max_norm} if clipped else {}
    trainer = build(trainer__num_steps=ONE_STEP_EACH, **overrides)
    before = snapshot(trainer.model)
    trainer._train_batch(first_batch(trainer), ["score_nn"])
    names = sorted(module_parameters(trainer.model, "score_nn"))
    parameters = dict(trainer.model.named_parameters())
    update = total_norm([parameters[name].detach() - before[name] for name in names])
    if clipped:
        assert 0 < update <= lr * max_norm * (1 + 1e-4)
    else:
        assert update > 10 * lr * max_norm


# ---- (d) checkpoints hold one optimizer (and scheduler) state per module --------------------------
def test_checkpoint_state_has_one_optimizer_state_per_module(build):
    trainer = build(
        trainer__num_steps=ONE_STEP_EACH,
        trainer__learning_rate_schedulers={"task_nn": {"type": "step", "step_size": 1, "gamma": 0.5}},
    )
    trainer._train_batch(first_batch(trainer), ["score_nn", "task_nn"])
    _, training_state = trainer.get_checkpoint_state()
    optimizers = training_state["optimizer"]
    assert set(optimizers) == {"score_nn", "task_nn"}
    for module, state in optimizers.items():
        num_parameters = len(list(getattr(trainer.model, module).parameters()))
        assert sum(len(group["params"]) for group in state["param_groups"]) == num_parameters
        assert len(state["state"]) == num_parameters  # every parameter of the module was stepped once
        assert all(int(s["step"]) == 1 for s in state["state"].values())
    assert set(training_state["learning_rate_scheduler"]) == {"task_nn"}

    # the state restores into a fresh trainer
    fresh = build(trainer__learning_rate_schedulers={"task_nn": {"type": "step", "step_size": 1, "gamma": 0.5}})
    fresh.optimizer.load_state_dict(optimizers)
    restored = fresh.optimizer.state_dict()
    for module in optimizers:
        for index, state in optimizers[module]["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(restored[module]["state"][index][key]), torch.as_tensor(value))


def test_schedulers_and_parameter_groups_are_per_module(build):
    trainer = build(
        trainer__optimizers={
            "score_nn": {**ADAM, "parameter_groups": [[["^global_score\\."], {"lr": 0.5}]]},
            "task_nn": ADAM,
        },
        trainer__learning_rate_schedulers={"task_nn": {"type": "step", "step_size": 1, "gamma": 0.5}},
    )
    model = trainer.model
    # parameter_groups regexes see names relative to the module
    group, rest = trainer.optimizer["score_nn"].param_groups
    assert group["lr"] == 0.5 and rest["lr"] == 1e-3
    assert {id(p) for p in group["params"]} == {id(p) for p in model.score_nn.global_score.parameters()}
    # the epoch-level scheduler step (after a batch) changes the task_nn's learning rate only
    trainer._train_batch(first_batch(trainer), ["score_nn", "task_nn"])
    trainer._learning_rate_scheduler.step(None)
    assert trainer.optimizer["task_nn"].param_groups[0]["lr"] == pytest.approx(0.5e-3)
    assert [g["lr"] for g in trainer.optimizer["score_nn"].param_groups] == [0.5, 1e-3]


# ---- (e) configuration errors -------------------------------------------------------------------
def test_a_trained_step_without_optimizer_is_a_configuration_error(build):
    trainer = build(trainer__optimizers={"task_nn": ADAM}, trainer__grad_norm={})
    with pytest.raises(ConfigurationError, match="score_nn"):
        trainer.train()


@pytest.mark.parametrize("name", ["scorer", "vocab", "output_space"])
def test_an_optimizer_for_a_non_module_is_a_configuration_error(build, name):
    with pytest.raises(ConfigurationError, match=name):
        build(trainer__optimizers={"task_nn": ADAM, "score_nn": ADAM, name: ADAM})


# ---- (f) parameter averaging ----------------------------------------------------------------------
def test_moving_average_follows_every_batch_and_is_the_trained_model(build):
    """AllenNLP's exponential moving average, updated after each batch's score and task steps with
    decay min(0.9, (1 + t) / (10 + t)) at batch t: recomputed by hand from the raw parameters after
    every batch, it is what `train()` leaves in the model."""
    trainer = build(trainer__num_epochs=1, trainer__moving_average={"type": "exponential", "decay": 0.9})
    model = trainer.model
    expected = snapshot(model)
    apply = trainer._moving_average.apply
    raw_after_batch = []

    def record_then_apply(num_updates):
        raw_after_batch.append((num_updates, snapshot(model)))
        apply(num_updates)

    trainer._moving_average.apply = record_then_apply
    trainer.train()
    assert [t for t, _ in raw_after_batch] == [1, 2, 3, 4, 5]  # 40 rows, batches of 8
    for t, raw in raw_after_batch:
        decay = min(0.9, (1 + t) / (10 + t))
        expected = {name: decay * expected[name] + (1 - decay) * raw[name] for name in expected}
    final_raw = raw_after_batch[-1][1]
    for name, parameter in model.named_parameters():
        assert torch.allclose(parameter, expected[name], atol=1e-6), name
    moved = [name for name in expected if not torch.allclose(expected[name], final_raw[name])]
    assert moved, "the average should differ from the last raw parameters"
