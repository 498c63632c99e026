"""How many times each network runs per batch, counted with forward hooks: the work the design
needs and no more (issue #42).

SEAL-dynamic with `num_steps: {score_nn: 3, task_nn: 1}`, per training batch: the task-net once,
with gradient (its parameters change only in the task-net step, so one output serves all four
steps); the loss-net's feature network once per step (its parameters change in every score-net
step), with gradient in the score-net steps and without in the task-net step; its structured score
once per step (the gold output and all samples scored in one call).  Per validation batch: each
once.  And sharing the task-net's output changes nothing but the work: with dropout off, a batch
trains the same parameters as running every step on its own."""
import contextlib
from collections import Counter

import pytest
import torch

from tests.models.test_variants import CONFIGS, batch
from tests.models.test_variants import build as build_model
from tests.training import test_trainer
from tests.training.test_trainer import BATCH_SIZE, first_batch, snapshot

# The trainer tests' fixtures: the fixture seal-dynamic config on the 40 scene_small rows, batches of 8.
data, build = test_trainer.data, test_trainer.build

THREE_SCORE_STEPS = {"score_nn": 3, "task_nn": 1}
NUM_BATCHES = 40 // BATCH_SIZE


def count_calls(modules: dict) -> Counter:
    """Counts the forward calls of each named module, as `(name, whether gradient was enabled)`."""
    calls: Counter = Counter()
    for name, module in modules.items():
        module.register_forward_hook(lambda *_, name=name: calls.update([(name, torch.is_grad_enabled())]))
    return calls


def networks(model) -> dict:
    return {"task_nn": model.task_nn, "features": model.score_nn.task_nn, "structured": model.score_nn.global_score}


def test_a_seal_dynamic_training_batch_runs_the_task_net_once(build):
    trainer = build(trainer__num_steps=THREE_SCORE_STEPS)
    calls = count_calls(networks(trainer.model))
    trainer._train_batch(first_batch(trainer), trainer.model.active_steps(0))
    assert calls == {("task_nn", True): 1, ("features", True): 3, ("features", False): 1,
                     ("structured", True): 4}


def test_an_epoch_with_validation_runs_each_network_once_per_validation_batch(build, data):
    from allennlp.data.data_loaders import SimpleDataLoader

    instances, vocab = data
    trainer = build(trainer__num_steps=THREE_SCORE_STEPS, trainer__num_epochs=1)
    validation_batches = 3
    trainer._validation_data_loader = SimpleDataLoader(instances[:3 * BATCH_SIZE], BATCH_SIZE, vocab=vocab)
    trainer._validation_data_loader.index_with(vocab)
    calls = count_calls(networks(trainer.model))
    trainer.train()
    # the validation loss is the task-net step's (energy + cross-entropy): one bound score per batch
    assert calls == {("task_nn", True): NUM_BATCHES, ("task_nn", False): validation_batches,
                     ("features", True): 3 * NUM_BATCHES, ("features", False): NUM_BATCHES + validation_batches,
                     ("structured", True): 4 * NUM_BATCHES, ("structured", False): validation_batches}


def test_a_second_task_step_runs_the_task_net_again_after_its_update(build):
    trainer = build(trainer__num_steps={"score_nn": 1, "task_nn": 2})
    model = trainer.model
    outputs = []
    model.task_nn.register_forward_hook(lambda module, args, output: outputs.append(output.logits.detach().clone()))
    trainer._train_batch(first_batch(trainer), model.active_steps(0))
    assert len(outputs) == 2
    assert not torch.equal(outputs[0], outputs[1])  # the second saw the updated task-net


def test_the_score_step_inside_a_batch_sends_the_task_net_no_gradient(build):
    trainer = build(trainer__num_steps=THREE_SCORE_STEPS)
    model = trainer.model
    with model.training_batch():
        trainer._step(first_batch(trainer), "score_nn")
        assert all(p.grad is None for p in model.task_nn.parameters())
        assert any(p.grad is not None for p in model.score_nn.parameters())
        trainer._step(first_batch(trainer), "task_nn")  # the shared output still has its graph
        assert all(p.grad is not None for p in model.task_nn.parameters())


def test_sharing_the_task_net_output_trains_the_same_parameters_without_dropout(build):
    """With dropout off the task-net is deterministic, so one shared forward must give exactly the
    updates of a forward per step (the samplers draw the same random numbers either way)."""
    no_dropout = {"model__task_nn__dropout": 0.0, "model__task_nn__feedforward__dropout": 0.0}
    trainers = [build(trainer__num_steps=THREE_SCORE_STEPS, **no_dropout) for _ in range(2)]
    trainers[1].model.training_batch = contextlib.nullcontext  # every step runs the task-net
    parameters = []
    for trainer in trainers:
        torch.manual_seed(3)
        for batch_ in list(trainer.data_loader)[:2]:
            trainer._train_batch(batch_, trainer.model.active_steps(0))
        parameters.append(snapshot(trainer.model))
    assert parameters[0].keys() == parameters[1].keys()
    for name in parameters[0]:
        torch.testing.assert_close(parameters[0][name], parameters[1][name], rtol=0, atol=0, msg=name)


# Per batch of three score-net steps and a task-net step: task-net and feature-network forwards, and
# structured-score calls (`None`: not counted, gradient-based inference scores at every iteration).
VARIANT_CALLS = [("seal-dynamic", 1, 4, 4), ("infnet", 1, 4, 4), ("cross-entropy", 1, 0, 0), ("spen", 0, 3, None),
                 ("dvn", 0, 3, None)]


@pytest.mark.parametrize("name, task_forwards, feature_forwards, structured_calls", VARIANT_CALLS)
def test_every_variant_inside_a_training_batch(name, task_forwards, feature_forwards, structured_calls):
    """Three score-net steps and a task-net step (those the model has) on one batch, as the trainer
    runs them.  The margin loss (infnet) scores its samples and the gold in one call."""
    torch.manual_seed(0)
    model = build_model(CONFIGS[name]())
    model.train()
    x, labels = batch()
    counted = {"task_nn": model.task_nn} if model.task_nn is not None else {}
    if model.score_nn is not None:
        counted.update(features=model.score_nn.task_nn, structured=model.score_nn.global_score)
    calls = count_calls(counted)
    steps = model.active_steps(0)
    with model.training_batch():
        for step in steps:
            for _ in range(3 if step == "score_nn" else 1):
                model.zero_grad(set_to_none=True)
                model(x=x, labels=labels, seal_step=step)["loss"].backward()
    counts = Counter()
    for (network, _), value in calls.items():
        counts[network] += value
    assert counts.get("task_nn", 0) == task_forwards
    assert counts.get("features", 0) == feature_forwards
    if structured_calls is not None:
        assert counts.get("structured", 0) == structured_calls


def test_the_shared_output_is_dropped_when_the_batch_ends():
    torch.manual_seed(0)
    model = build_model(CONFIGS["seal-dynamic"]())
    model.train()
    x, labels = batch()
    calls = count_calls({"task_nn": model.task_nn})
    for _ in range(2):  # two batches (the same tensors): each runs the task-net
        with model.training_batch():
            model(x=x, labels=labels, seal_step="score_nn")["loss"].backward()
    assert sum(calls.values()) == 2
    assert model._batch_task_output is None
    model(x=x, labels=labels, seal_step="score_nn")  # outside a batch: a forward per call
    model(x=x, labels=labels, seal_step="score_nn")
    assert sum(calls.values()) == 4
