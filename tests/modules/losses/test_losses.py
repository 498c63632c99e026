"""Losses on a hand-computable 2-label case.

Score-net: local logits (1, -2) (a fixed stub feature network) plus `label-pairwise` with
W01 = 0.5, W10 = 0.25, so

    s(y) = y0 - 2 y1 + 0.75 y0 y1:   s(1,1) = -0.25, s(1,0) = 1, s(0,0) = 0, s(0,1) = -2.

Task-net logits (log 3, 0): p = (3/4, 1/2), and
    s(p) = 0.75 - 1 + 0.75 * 0.375 = 0.03125.
q(y) = prod_i p_i^y_i (1 - p_i)^(1 - y_i):  q(1,1) = q(1,0) = 3/8,  q(0,0) = q(0,1) = 1/8.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.losses import (
    CrossEntropyLoss,
    DVNLoss,
    EnergyLoss,
    Loss,
    LossInputs,
    MarginLoss,
    NCERankingLoss,
    NegativeEntropyLoss,
    WeightedSumLoss,
)
from seal.modules.oracles import F1Oracle, HammingOracle, OracleValue
from seal.modules.output_spaces import MultiLabelOutputSpace
from seal.modules.samplers import GroundTruthSampler, MultiSampler, Samples, TaskNetSampler
from seal.modules.score_nets import ScoreNN
from seal.modules.structured_scores import LabelPairwiseScore
from tests.modules.stubs import FixedTaskNN, label_vocab

SPACE = MultiLabelOutputSpace()
S_P = 0.75 - 1.0 + 0.75 * 0.375  # s(p) = 0.03125


def make_score_nn(batch=1):
    global_score = LabelPairwiseScore(label_vocab(2))
    with torch.no_grad():
        global_score.weights.copy_(torch.tensor([[0.0, 0.5], [0.25, 0.0]]))
    return ScoreNN(FixedTaskNN(torch.tensor([[1.0, -2.0]] * batch)), global_score)


def make_inputs(labels, task_logits=None, score_nn=None, with_score=True):
    labels = torch.tensor(labels)
    batch = labels.shape[0]
    if task_logits is None:
        task_logits = torch.tensor([[math.log(3.0), 0.0]] * batch, requires_grad=True)
    score = (score_nn or make_score_nn(batch)).bind({}) if with_score else None
    return LossInputs(output_space=SPACE, task_logits=task_logits, labels=labels, score=score)


class FixedSampler:
    """A sampler stub returning fixed samples (and log-probabilities)."""

    def __init__(self, y, log_q=None):
        self.y = torch.tensor(y)
        self.log_q = None if log_q is None else torch.tensor(log_q)

    def __call__(self, context):
        return Samples(self.y, self.log_q)


def test_hand_computed_scores_of_the_fixture():
    score = make_score_nn().bind({})
    y = torch.tensor([[[1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.75, 0.5]]])
    torch.testing.assert_close(score(y), torch.tensor([[-0.25, 1.0, 0.0, -2.0, S_P]]))


# ---- NCE ranking -------------------------------------------------------------------------------
def test_nce_ranking_loss_by_hand():
    loss = NCERankingLoss(num_samples=3)
    log_q = [math.log(3 / 8), math.log(1 / 8), math.log(1 / 8)]
    loss.sampler = FixedSampler([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]], [log_q])
    inputs = make_inputs([[1, 1]])
    # r(y) = s(y) - log q(y) for gold (1,1) first, then the samples (1,0), (0,0), (0,1)
    r = [
        -0.25 - math.log(3 / 8),
        1.0 - math.log(3 / 8),
        0.0 - math.log(1 / 8),
        -2.0 - math.log(1 / 8),
    ]
    expected = -math.log(math.exp(r[0]) / sum(math.exp(r_k) for r_k in r))
    assert loss(inputs).item() == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(2.18197, abs=1e-4)  # the number itself


def test_nce_ranking_loss_at_a_temperature_corrects_the_gold_by_the_tempered_noise():
    # task logits (log 3, 0) at temperature 2: q_T(1, 1) = sigmoid(log(3) / 2) * 1/2 = sqrt(3) / (1 + sqrt(3)) / 2
    loss = NCERankingLoss(num_samples=1, temperature=2.0)
    loss.sampler = FixedSampler([[[0.0, 0.0]]], [[math.log(1 / 8)]])  # its own log q, as given
    gold_q = math.sqrt(3) / (1 + math.sqrt(3)) / 2
    r = [-0.25 - math.log(gold_q), 0.0 - math.log(1 / 8)]
    expected = -math.log(math.exp(r[0]) / (math.exp(r[0]) + math.exp(r[1])))
    assert loss(make_inputs([[1, 1]])).item() == pytest.approx(expected, abs=1e-5)
    assert NCERankingLoss(temperature=2.0).sampler.temperature == 2.0


def test_nce_ranking_loss_without_the_proposal_correction_ranks_the_raw_scores():
    loss = NCERankingLoss(num_samples=3, proposal_correction=False)
    loss.sampler = FixedSampler(
        [[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]], [[math.log(3 / 8), math.log(1 / 8), math.log(1 / 8)]]
    )
    # r(y) = s(y): gold (1,1) -0.25, samples (1,0) 1, (0,0) 0, (0,1) -2
    r = [-0.25, 1.0, 0.0, -2.0]
    expected = -math.log(math.exp(r[0]) / sum(math.exp(r_k) for r_k in r))
    assert loss(make_inputs([[1, 1]])).item() == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(1.78309, abs=1e-4)


def test_nce_ranking_loss_without_correction_pushes_up_the_labels_the_samples_lack():
    # gold (1,1), one sample (1,0): only label 1 differs, so only its local score gets gradient,
    # upwards (descent raises it), by 1 - softmax weight of the gold = sigmoid(s(1,0) - s(1,1)).
    local = torch.tensor([[1.0, -2.0]], requires_grad=True)
    y = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])

    class LocalOnly:
        def __call__(self, outputs):
            return (outputs * local.unsqueeze(1)).sum(-1)

    inputs = LossInputs(
        output_space=SPACE, task_logits=torch.zeros(1, 2), labels=torch.tensor([[1, 1]]), score=LocalOnly()
    )
    loss = NCERankingLoss(num_samples=1, proposal_correction=False)
    loss.sampler = FixedSampler(y[:, 1:].tolist(), [[0.0]])
    loss(inputs).backward()
    expected = -torch.sigmoid(torch.tensor(1.0 - (-1.0))).item()
    torch.testing.assert_close(local.grad, torch.tensor([[0.0, expected]]))


def test_nce_ranking_loss_with_real_deterministic_sampling():
    # logits (+30, -30): every sample is (1, 0) with log q ~ 0, the gold (1, 0) too:
    # r = (1, 1, 1) for gold + 2 samples -> loss = -log(e / 3e) = log 3
    loss = NCERankingLoss(num_samples=2)
    inputs = make_inputs([[1, 0]], task_logits=torch.tensor([[30.0, -30.0]]))
    assert loss(inputs).item() == pytest.approx(math.log(3.0), abs=1e-5)


def test_nce_ranking_loss_averages_over_the_batch():
    loss = NCERankingLoss(num_samples=1)
    loss.sampler = FixedSampler([[[0.0, 0.0]], [[0.0, 0.0]]], [[math.log(1 / 8)], [math.log(1 / 8)]])
    inputs = make_inputs([[1, 1], [1, 0]])
    r_gold = [-0.25 - math.log(3 / 8), 1.0 - math.log(3 / 8)]
    r_sample = 0.0 - math.log(1 / 8)
    per_instance = [-math.log(math.exp(r) / (math.exp(r) + math.exp(r_sample))) for r in r_gold]
    assert loss(inputs).item() == pytest.approx(sum(per_instance) / 2, abs=1e-5)


def test_nce_ranking_loss_trains_the_score_not_the_noise():
    inputs = make_inputs([[1, 1]])
    NCERankingLoss(num_samples=4)(inputs).backward()
    assert inputs.task_logits.grad is None
    assert inputs.score.score_nn.global_score.weights.grad is not None


# ---- margin / structured SVM -------------------------------------------------------------------
# Two instances, both with sample p = (3/4, 1/2), s(p) = 0.03125 (task-net sampler, the default):
#   gold (0,1): s = -2, F1(p) = 2 * 0.5 / (1.25 + 1) = 4/9, Delta = 5/9
#   gold (1,0): s = 1,  F1(p) = 2 * 0.75 / 2.25 = 2/3,     Delta = 1/3
MARGIN_LABELS = [[0, 1], [1, 0]]


def test_margin_loss_by_hand():
    violations = [S_P + 2.0 + 5 / 9, max(0.0, S_P - 1.0 + 1 / 3)]  # second is negative -> 0
    expected = sum(violations) / 2
    assert MarginLoss()(make_inputs(MARGIN_LABELS)).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.293403, abs=1e-5)


def test_margin_loss_perceptron_drops_the_cost():
    expected = ((S_P + 2.0) + max(0.0, S_P - 1.0)) / 2
    loss = MarginLoss(perceptron=True)(make_inputs(MARGIN_LABELS))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.015625)


def test_margin_loss_margin_scale_multiplies_the_cost():
    # scale 3: second violation 0.03125 - 1 + 1 = 0.03125 becomes positive
    expected = ((S_P + 2.0 + 3 * 5 / 9) + (S_P - 1.0 + 3 * 1 / 3)) / 2
    loss = MarginLoss(margin_scale=3.0)(make_inputs(MARGIN_LABELS))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_margin_loss_takes_the_max_over_samples():
    # gold (0,1), s = -2. Sample (1,1): s = -0.25, F1 = 2/3 -> v = -0.25 + 2 + 1/3 ;
    # sample (0,0): s = 0, F1 = 0 -> v = 0 + 2 + 1 = 3. max = 3
    loss = MarginLoss(sampler=FixedSampler([[[1.0, 1.0], [0.0, 0.0]]]))
    assert loss(make_inputs([[0, 1]])).item() == pytest.approx(3.0, abs=1e-6)


def test_margin_loss_with_hamming_oracle():
    # gold (0,1), p = (3/4, 1/2): Hamming agreement = (1/4 + 1/2) / 2 = 3/8, Delta = 5/8
    loss = MarginLoss(oracle=HammingOracle())(make_inputs([[0, 1]]))
    assert loss.item() == pytest.approx(S_P + 2.0 + 5 / 8, abs=1e-6)


def test_margin_loss_is_zero_when_the_gold_wins_by_the_margin():
    # gold (1,0), sample = gold: violation = 0 + Delta(gold) = 0
    loss = MarginLoss(sampler=GroundTruthSampler())(make_inputs([[1, 0]]))
    assert loss.item() == 0.0


def test_margin_loss_without_score_raises():
    with pytest.raises(ConfigurationError, match="score-net"):
        MarginLoss()(make_inputs([[1, 0]], with_score=False))


# ---- DVN ---------------------------------------------------------------------------------------
def test_dvn_loss_is_bce_of_score_against_f1_by_hand():
    # samples: p (s = 0.03125, F1 vs gold (0,1) = 4/9) and the gold (s = -2, F1 = 1)
    loss = DVNLoss(sampler=MultiSampler([TaskNetSampler(), GroundTruthSampler()]))

    def bce(logit, target):
        sig = 1 / (1 + math.exp(-logit))
        return -(target * math.log(sig) + (1 - target) * math.log(1 - sig))

    expected = (bce(S_P, 4 / 9) + bce(-2.0, 1.0)) / 2
    assert loss(make_inputs([[0, 1]])).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.41097, abs=1e-4)  # (0.69501 + softplus(2)) / 2


def test_dvn_default_sampler_is_task_net_plus_five_discrete_samples():
    torch.manual_seed(0)
    sampler = DVNLoss().sampler
    assert sampler(make_inputs([[0, 1]])).y.shape == (1, 6, 2)


def test_dvn_rejects_oracles_outside_unit_interval():
    class TooGood(OracleValue):
        def __call__(self, y, labels, mask=None):
            return torch.full(y.shape[:2], 2.0)

    with pytest.raises(ConfigurationError, match=r"\[0, 1\]"):
        DVNLoss(sampler=TaskNetSampler(), oracle=TooGood())(make_inputs([[0, 1]]))


# ---- cross-entropy -----------------------------------------------------------------------------
def test_cross_entropy_by_hand():
    # gold (0,1), p = (3/4, 1/2): -(log 1/4 + log 1/2) / 2 labels
    loss = CrossEntropyLoss()(make_inputs([[0, 1]], with_score=False))
    assert loss.item() == pytest.approx(1.5 * math.log(2.0), abs=1e-6)


def test_cross_entropy_equals_mean_bce_with_logits():
    torch.manual_seed(0)
    logits = torch.randn(4, 5)
    labels = torch.bernoulli(torch.full((4, 5), 0.5)).long()
    inputs = LossInputs(output_space=SPACE, task_logits=logits, labels=labels)
    expected = F.binary_cross_entropy_with_logits(logits, labels.float())
    torch.testing.assert_close(CrossEntropyLoss()(inputs), expected)


def test_cross_entropy_without_task_net_raises():
    inputs = LossInputs(output_space=SPACE, labels=torch.tensor([[0, 1]]))
    with pytest.raises(ConfigurationError, match="task-net"):
        CrossEntropyLoss()(inputs)


# ---- energy ------------------------------------------------------------------------------------
def test_negative_entropy_by_hand():
    # p = (3/4, 1/2): -(h(3/4) + log 2) / 2 labels, h the binary entropy
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    inputs = make_inputs([[0, 1]], with_score=False)
    loss = NegativeEntropyLoss()(inputs)
    assert loss.item() == pytest.approx(-(h + math.log(2.0)) / 2, abs=1e-6)


def test_negative_entropy_gradient_is_logit_times_bernoulli_variance():
    """d(-h(sigmoid z))/dz = z p (1 - p): (log 3 * 3/16, 0) / 2 labels for z = (log 3, 0)."""
    inputs = make_inputs([[0, 1]], with_score=False)
    NegativeEntropyLoss()(inputs).backward()
    torch.testing.assert_close(inputs.task_logits.grad, torch.tensor([[math.log(3.0) * 3 / 32, 0.0]]))


def test_energy_is_minus_score_of_task_probabilities():
    inputs = make_inputs([[0, 1], [1, 0]])
    assert EnergyLoss()(inputs).item() == pytest.approx(-S_P, abs=1e-6)


def test_energy_trains_the_task_net():
    inputs = make_inputs([[0, 1]])
    EnergyLoss()(inputs).backward()
    # d(-s(p))/dz_i = -(ds/dp_i) p_i (1 - p_i): ds/dp0 = 1 + 0.75 p1 = 1.375, ds/dp1 = -2 + 0.75 p0 = -1.4375
    expected = torch.tensor([[-1.375 * 0.1875, 1.4375 * 0.25]])
    torch.testing.assert_close(inputs.task_logits.grad, expected)


def test_cost_augmented_energy_adds_the_task_loss():
    # gold (0,1): Delta(p) = 5/9 ; gold (1,0): Delta(p) = 1/3
    inputs = make_inputs(MARGIN_LABELS)
    loss = EnergyLoss(cost_augmented=F1Oracle())(inputs)
    assert loss.item() == pytest.approx(-((S_P + 5 / 9) + (S_P + 1 / 3)) / 2, abs=1e-6)


# ---- weighted sum ------------------------------------------------------------------------------
def test_weighted_sum_applies_the_weights():
    inputs = make_inputs([[0, 1]])
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [2.0, 0.5])
    assert loss(inputs).item() == pytest.approx(2.0 * -S_P + 0.5 * 1.5 * math.log(2.0), abs=1e-6)


def test_weighted_sum_defaults_to_unit_weights():
    inputs = make_inputs([[0, 1]])
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()])
    assert loss(inputs).item() == pytest.approx(-S_P + 1.5 * math.log(2.0), abs=1e-6)


def test_weighted_sum_skips_zero_weighted_losses():
    # energy needs a score-net: with weight 0 it is never evaluated
    inputs = make_inputs([[0, 1]], with_score=False)
    loss = WeightedSumLoss([CrossEntropyLoss(), EnergyLoss()], [1.0, 0.0])
    assert loss(inputs).item() == pytest.approx(1.5 * math.log(2.0), abs=1e-6)


@pytest.mark.parametrize("losses, weights", [([], None), ([CrossEntropyLoss()], [1.0, 2.0])])
def test_weighted_sum_needs_one_weight_per_loss(losses, weights):
    with pytest.raises(ConfigurationError, match="one weight per loss"):
        WeightedSumLoss(losses, weights)


def test_losses_build_from_params():
    loss = Loss.from_params(
        Params(
            {
                "type": "weighted-sum",
                "losses": [{"type": "energy", "cost_augmented": {"type": "hamming"}}, {"type": "cross-entropy"}],
                "weights": [1.0, 0.25],
            }
        )
    )
    assert isinstance(loss.losses[0].cost_augmented, HammingOracle) and loss.weights == [1.0, 0.25]
    margin = Loss.from_params(Params({"type": "margin", "perceptron": True, "sampler": {"type": "ground-truth"}}))
    assert margin.perceptron and isinstance(margin.sampler, GroundTruthSampler)
    nce = Loss.from_params(Params({"type": "nce-ranking", "num_samples": 4}))
    assert nce.sampler.num_samples == 4


def test_weighted_sum_refuses_all_zero_weights():
    with pytest.raises(ConfigurationError, match="non-zero"):
        WeightedSumLoss([CrossEntropyLoss(), EnergyLoss()], [0.0, 0.0])



def test_normalized_energy_divides_by_the_number_of_labels():
    """The fixture has 2 labels: the per-decision energy is -s(p) / 2."""
    inputs = make_inputs([[0, 1], [1, 0]])
    assert EnergyLoss(normalize=True)(inputs).item() == pytest.approx(-S_P / 2, abs=1e-6)
