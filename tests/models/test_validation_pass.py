"""A validation batch (eval mode, no gradient, labels given) runs each net once: the prediction's
task-net output and bound score-net also give the validation loss."""
import pytest
import torch

from tests.models.test_variants import CONFIGS, batch, build


def count_forward_calls(module: torch.nn.Module, counts: dict, name: str) -> None:
    counts[name] = 0

    def hook(*_):
        counts[name] += 1

    module.register_forward_hook(hook)


def validate(model, x, labels) -> torch.Tensor:
    """What AllenNLP's trainer does with a validation batch."""
    model.eval()
    with torch.no_grad():
        return model(x=x, labels=labels)["loss"]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_validation_batch_runs_each_net_once(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    counts: dict = {}
    if model.task_nn is not None:
        count_forward_calls(model.task_nn, counts, "task_nn")
    if model.score_nn is not None:
        count_forward_calls(model.score_nn.task_nn, counts, "score_nn")
    validate(model, *batch())
    assert counts and all(calls == 1 for calls in counts.values()), counts


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_validation_loss_is_the_last_training_step_loss(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    x, labels = batch()
    step = "task_nn" if model.task_nn_loss is not None else "score_nn"
    torch.manual_seed(1)
    expected = model(x=x, labels=labels, seal_step=step)["loss"].detach()  # train mode: no dropout here
    torch.manual_seed(1)
    torch.testing.assert_close(validate(model, x, labels), expected)
