"""The contrastive-divergence loss on the hand-computable 2-label fixture of test_losses.py:

    s(y) = y0 - 2 y1 + 0.75 y0 y1:   s(1,1) = -0.25, s(1,0) = 1, s(0,0) = 0, s(0,1) = -2,

energy E = -s, task loss Delta = 1 - F1: against the gold (1,1), Delta(1,0) = Delta(0,1) = 1/3 and
Delta(0,0) = 1."""
import math

import pytest
import torch
import torch.nn.functional as F
from allennlp.common import Params

from seal.models.implicit import AttachedLossInputs
from seal.modules.losses import ContrastiveDivergenceLoss, Loss, MarginLoss
from seal.modules.oracles import F1Oracle
from seal.modules.samplers import DiscreteSampler, Samples, TaskNetSampler
from tests.modules.losses.test_losses import SPACE, FixedSampler, make_inputs, make_score_nn

S = {(1, 1): -0.25, (1, 0): 1.0, (0, 0): 0.0, (0, 1): -2.0}
DELTA = {(1, 0): 1 / 3, (0, 0): 1.0, (0, 1): 1 / 3}


def cd_with_samples(samples, log_q=None, **settings):
    loss = ContrastiveDivergenceLoss(**settings)
    loss.sampler = FixedSampler(samples, log_q)
    return loss


def test_value_by_hand():
    negatives = [(1, 0), (0, 0), (0, 1)]
    loss = cd_with_samples([[list(map(float, y)) for y in negatives]])
    # log(1 + mean_k exp(Delta_k + E(y*) - E(y_k))), E(y*) - E(y_k) = s(y_k) - s(y*)
    margins = [DELTA[y] + S[y] - S[(1, 1)] for y in negatives]  # 1.58333, 1.25, -1.41667
    expected = math.log(1 + sum(math.exp(m) for m in margins) / 3)
    assert loss(make_inputs([[1, 1]])).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.352738, abs=1e-5)  # the number itself


def test_one_negative_reduces_to_the_soft_margin():
    # log(1 + exp(Delta + E(y*) - E(y_hat))) = softplus(1/3 + 1 + 0.25) = log(1 + e^(19/12))
    loss = cd_with_samples([[[1.0, 0.0]]])
    assert loss(make_inputs([[1, 1]])).item() == pytest.approx(math.log(1 + math.exp(19 / 12)), abs=1e-6)
    # and on random outputs and scores: softplus of the margin-rescaled violation, the smooth
    # upper bound of the structured hinge that `margin` minimises on the same negative
    generator = torch.Generator().manual_seed(0)
    y_hat = torch.rand(3, 1, 2, generator=generator)
    score_nn = make_score_nn(batch=3)
    inputs = make_inputs([[1, 0], [0, 1], [1, 1]], score_nn=score_nn)
    cd = cd_with_samples(y_hat.tolist())
    gold = inputs.labels.unsqueeze(1).float()
    violation = F1Oracle().task_loss(y_hat, inputs.labels) + inputs.score(y_hat) - inputs.score(gold)
    torch.testing.assert_close(cd(inputs), F.softplus(violation).mean())
    hinge = MarginLoss(sampler=FixedSampler(y_hat.tolist()))(inputs)
    assert cd(inputs).item() >= hinge.item()


def test_margin_scale_zero_is_the_margin_free_soft_ranking():
    loss = cd_with_samples([[[0.0, 0.0]]], margin_scale=0.0)
    assert loss(make_inputs([[1, 1]])).item() == pytest.approx(math.log(1 + math.exp(0.25)), abs=1e-6)


def test_gradient_lowers_the_gold_energy_and_raises_the_violating_negatives():
    score_nn = make_score_nn()  # its local scores (1, -2) are a parameter
    inputs = make_inputs([[1, 1]], score_nn=score_nn)
    cd_with_samples([[[1.0, 0.0]]])(inputs).backward()
    # only label 1 differs between gold (1,1) and the negative (1,0): its local score goes up
    # (descent), by sigmoid(margin) = the soft margin's derivative
    gradient = score_nn.task_nn.logits.grad[0]
    assert gradient[0].item() == pytest.approx(0.0, abs=1e-7)
    assert gradient[1].item() == pytest.approx(-torch.sigmoid(torch.tensor(19 / 12)).item(), abs=1e-6)


def test_registered_with_a_discrete_sampler_by_default():
    loss = Loss.from_params(Params({"type": "contrastive-divergence"}))
    assert isinstance(loss, ContrastiveDivergenceLoss) and isinstance(loss.sampler, DiscreteSampler)
    assert loss.sampler.num_samples == 10
    configured = Loss.from_params(Params({"type": "contrastive-divergence", "margin_scale": 2.0,
                                          "sampler": {"type": "discrete", "num_samples": 3}}))
    assert configured.sampler.num_samples == 3 and configured.margin_scale == 2.0
    torch.manual_seed(0)
    value = configured(make_inputs([[1, 0], [0, 1]]))
    assert value.dim() == 0 and torch.isfinite(value)


# ---- the derivative with respect to the task-net, for the implicit hypergradient ---------------
def attached_inputs(labels, logits):
    score = make_score_nn(len(labels)).bind({})
    return AttachedLossInputs(output_space=SPACE, task_logits=logits, labels=torch.tensor(labels), score=score)


def test_discrete_negatives_get_the_score_function_term_with_a_leave_one_out_baseline():
    logits = torch.tensor([[0.3, -0.2], [1.0, 0.5], [-0.4, 0.1]], requires_grad=True)
    labels = [[1, 1], [1, 1], [1, 1]]
    negatives = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]])

    class LogProbSampler:  # fixed negatives, with their log-probabilities under the task-net
        def __call__(self, context):
            log_q = context.task_distribution("test", True).log_prob(negatives)
            return Samples(negatives, log_q)

    loss = ContrastiveDivergenceLoss(sampler=LogProbSampler())
    value = loss(attached_inputs(labels, logits))
    per_example = torch.tensor([math.log(1 + math.exp(DELTA[y] + S[y] - S[(1, 1)])) for y in [(1, 0), (0, 0), (0, 1)]])
    assert value.item() == pytest.approx(per_example.mean().item(), abs=1e-6)  # the value is unchanged
    value.backward()
    # d/dlogits of mean_b (l_b - mean_{b' != b} l_b') log q(y_b): for a Bernoulli, d log q / dlogit = y - sigmoid
    baseline = (per_example.sum() - per_example) / 2
    expected = ((per_example - baseline) / 3).unsqueeze(1) * (negatives[:, 0] - torch.sigmoid(logits.detach()))
    torch.testing.assert_close(logits.grad, expected)


def test_relaxed_negatives_are_differentiated_through_and_detached_inputs_add_nothing():
    logits = torch.tensor([[0.3, -0.2]], requires_grad=True)
    relaxed = ContrastiveDivergenceLoss(sampler=TaskNetSampler())
    value = relaxed(attached_inputs([[1, 1]], logits))
    (pathwise,) = torch.autograd.grad(value, logits)
    p = torch.sigmoid(logits)
    expected_value = F.softplus(F1Oracle().task_loss(p.unsqueeze(1), torch.tensor([[1, 1]]))[0, 0]
                                + make_score_nn().bind({})(p.unsqueeze(1))[0, 0] - S[(1, 1)])
    torch.testing.assert_close(value, expected_value)
    torch.testing.assert_close(pathwise, torch.autograd.grad(expected_value, logits)[0])
    # in an ordinary score-net step the task-net's distribution is detached: no gradient to it
    torch.manual_seed(0)
    ordinary = ContrastiveDivergenceLoss()(make_inputs([[1, 1]], task_logits=logits))
    assert not ordinary.requires_grad or torch.autograd.grad(ordinary, logits, allow_unused=True)[0] is None
