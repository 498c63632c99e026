import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles import F1Oracle
from seal.modules.output_spaces import BinaryMaskOutputSpace, MultiLabelOutputSpace
from seal.modules.samplers import (
    CropAverage,
    DiscreteSampler,
    GradientBasedInference,
    GroundTruthSampler,
    MultiSampler,
    Sampler,
    Samples,
    SamplingContext,
    TaskNetSampler,
)
from seal.modules.score_nets import ScoreNN
from seal.modules.structured_scores import LabelMLPScore, MaskConvScore, StructuredScore
from tests.modules.stubs import FixedTaskNN, label_vocab

SPACE = MultiLabelOutputSpace()
# logits (0, log 3) -> probabilities (1/2, 3/4)
TASK_LOGITS = torch.tensor([[0.0, math.log(3.0)]])
LABELS = torch.tensor([[1, 0]])


def context(**kwargs):
    return SamplingContext(output_space=SPACE, **kwargs)


def random_score(num_labels=6, batch=4, seed=0, hidden_dim=16):
    """A random `label-mlp` ScoreNN bound to a batch: local logits + a global MLP over labels."""
    torch.manual_seed(seed)
    logits = torch.randn(batch, num_labels)
    global_score = LabelMLPScore(label_vocab(num_labels), hidden_dim=hidden_dim)
    with torch.no_grad():  # larger weights than the default init, so that the global term matters
        for parameter in global_score.parameters():
            parameter.mul_(3.0)
    return ScoreNN(FixedTaskNN(logits), global_score).bind({})


# ---- task-net ------------------------------------------------------------------------------
def test_task_net_sampler_returns_probabilities_and_their_log_probability():
    samples = TaskNetSampler()(context(task_logits=TASK_LOGITS))
    torch.testing.assert_close(samples.y, torch.tensor([[[0.5, 0.75]]]))
    # negative entropy of the distribution: sum_i p_i log p_i + (1 - p_i) log(1 - p_i)
    expected = 0.5 * math.log(0.5) * 2 + 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert samples.log_q.item() == pytest.approx(expected, abs=1e-6)


def test_task_net_sampler_detaches_by_default_only():
    logits = TASK_LOGITS.clone().requires_grad_(True)
    assert not TaskNetSampler()(context(task_logits=logits)).y.requires_grad
    attached = TaskNetSampler(detach=False)(context(task_logits=logits)).y
    attached.sum().backward()
    # d sigmoid / dz = p (1 - p)
    torch.testing.assert_close(logits.grad, torch.tensor([[0.25, 0.1875]]))


def test_task_net_sampler_without_task_net_raises():
    with pytest.raises(ConfigurationError, match="task_logits"):
        TaskNetSampler()(context())


# ---- discrete ------------------------------------------------------------------------------
def test_discrete_sampler_shapes_values_and_log_q():
    torch.manual_seed(0)
    logits = torch.randn(3, 4)
    samples = DiscreteSampler(num_samples=6)(context(task_logits=logits))
    assert samples.y.shape == (3, 6, 4) and samples.log_q.shape == (3, 6)
    assert set(samples.y.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(samples.log_q, SPACE.log_probability(logits, samples.y))


def test_discrete_sampler_log_q_by_hand_on_saturated_logits():
    # p = sigmoid(+-30) is 1 or 0 up to 1e-13: the sample is (1, 0, 1), with log q ~ 0
    logits = torch.tensor([[30.0, -30.0, 30.0]])
    samples = DiscreteSampler(num_samples=3)(context(task_logits=logits))
    torch.testing.assert_close(samples.y, torch.tensor([[[1.0, 0.0, 1.0]] * 3]))
    torch.testing.assert_close(samples.log_q, torch.zeros(1, 3), atol=1e-6, rtol=0)


def test_discrete_sampler_at_a_temperature_samples_and_scores_under_the_tempered_logits():
    torch.manual_seed(0)
    # logits (+-4): p = 0.982 / 0.018 at temperature 1, 0.731 / 0.269 at temperature 4
    logits = torch.tensor([[4.0, -4.0]])
    samples = DiscreteSampler(num_samples=4000, temperature=4.0)(context(task_logits=logits))
    torch.testing.assert_close(samples.y.mean(1), torch.sigmoid(logits / 4.0), atol=0.03, rtol=0)
    torch.testing.assert_close(samples.log_q, SPACE.log_probability(logits / 4.0, samples.y))


def test_discrete_sampler_below_temperature_one_samples_closer_to_the_thresholded_prediction():
    torch.manual_seed(0)
    # logits (+-1): p = 0.731 / 0.269 at temperature 1, sigmoid(+-4) = 0.982 / 0.018 at temperature 0.25
    logits = torch.tensor([[1.0, -1.0]])
    samples = DiscreteSampler(num_samples=4000, temperature=0.25)(context(task_logits=logits))
    torch.testing.assert_close(samples.y.mean(1), torch.tensor([[0.982, 0.018]]), atol=0.01, rtol=0)
    torch.testing.assert_close(samples.log_q, SPACE.log_probability(logits / 0.25, samples.y))


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_discrete_sampler_rejects_a_temperature_that_is_not_positive(temperature):
    with pytest.raises(ConfigurationError, match="temperature must be positive"):
        DiscreteSampler(temperature=temperature)


def test_discrete_sampler_carries_no_gradient():
    logits = torch.randn(2, 3, requires_grad=True)
    samples = DiscreteSampler(num_samples=2)(context(task_logits=logits))
    assert not samples.y.requires_grad and not samples.log_q.requires_grad


def test_discrete_sampler_needs_positive_num_samples():
    with pytest.raises(ConfigurationError):
        DiscreteSampler(num_samples=0)


# ---- ground truth --------------------------------------------------------------------------
def test_ground_truth_sampler_returns_labels_with_log_q():
    samples = GroundTruthSampler()(context(task_logits=TASK_LOGITS, labels=LABELS))
    torch.testing.assert_close(samples.y, torch.tensor([[[1.0, 0.0]]]))
    assert samples.y.dtype == torch.get_default_dtype()
    # log(p0 (1 - p1)) = log(1/2 * 1/4)
    assert samples.log_q.item() == pytest.approx(math.log(0.125), abs=1e-6)


def test_ground_truth_sampler_without_task_net_has_no_log_q():
    samples = GroundTruthSampler()(context(labels=LABELS))
    assert samples.log_q is None


def test_ground_truth_sampler_without_labels_raises():
    with pytest.raises(ConfigurationError, match="labels"):
        GroundTruthSampler()(context(task_logits=TASK_LOGITS))


# ---- multi ---------------------------------------------------------------------------------
def test_multi_sampler_concatenates_samples_and_log_q():
    sampler = MultiSampler([TaskNetSampler(), GroundTruthSampler(), TaskNetSampler()])
    samples = sampler(context(task_logits=TASK_LOGITS, labels=LABELS))
    torch.testing.assert_close(samples.y, torch.tensor([[[0.5, 0.75], [1.0, 0.0], [0.5, 0.75]]]))
    task = TaskNetSampler()(context(task_logits=TASK_LOGITS)).log_q
    torch.testing.assert_close(samples.log_q, torch.cat([task, torch.tensor([[math.log(0.125)]]), task], dim=1))


def test_multi_sampler_drops_log_q_when_one_part_lacks_it():
    score = random_score(num_labels=2, batch=1)
    sampler = MultiSampler([TaskNetSampler(), GradientBasedInference(num_steps=2)])
    samples = sampler(context(task_logits=TASK_LOGITS, labels=LABELS, score=score))
    assert samples.y.shape == (1, 2, 2)
    assert samples.log_q is None


def test_multi_sampler_needs_samplers():
    with pytest.raises(ConfigurationError):
        MultiSampler([])


def test_samplers_build_from_params():
    sampler = Sampler.from_params(
        Params(
            {
                "type": "multi",
                "samplers": [
                    {"type": "discrete", "num_samples": 3},
                    {"type": "ground-truth"},
                    {"type": "gradient-based-inference", "num_steps": 4, "cost_augmented": {"type": "f1"}},
                ],
            }
        )
    )
    assert isinstance(sampler.samplers[0], DiscreteSampler) and sampler.samplers[0].num_samples == 3
    assert isinstance(sampler.samplers[2].cost_augmented, F1Oracle)


# ---- gradient-based inference --------------------------------------------------------------
@pytest.mark.parametrize("method", ["entropic", "projected"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_gbi_raises_the_score_of_every_instance(method, seed):
    score = random_score(seed=seed)
    gbi = GradientBasedInference(num_steps=20, step_size=0.1, method=method)
    samples = gbi(context(score=score))
    start = SPACE.uniform(samples.y)
    assert samples.y.shape == (4, 1, 6) and samples.log_q is None
    assert samples.y.min() >= 0 and samples.y.max() <= 1
    with torch.no_grad():
        start_score, end_score = score(start), score(samples.y)
    assert torch.all(end_score >= start_score)
    assert (end_score - start_score).mean() > 0.5  # observed: 1 to 3.8 per instance


class PeakedScore(StructuredScore):
    """score(y) = -sum_i (y_i - 0.55)^2: maximal just beside the uniform start point 0.5."""

    def forward(self, y, mask=None, features=None):
        return -((y - 0.55) ** 2).sum(-1)


@pytest.mark.parametrize("method", ["entropic", "projected"])
def test_gbi_keeps_the_best_iterate_when_steps_overshoot(method):
    # gradient at 0.5 is 0.1 per label; a step of 100 jumps to (near) 1, then (near) 0, ...: every
    # iterate scores below the start -n * 0.05^2, so the start itself must be returned.
    score = ScoreNN(FixedTaskNN(torch.zeros(2, 3)), PeakedScore()).bind({})
    y = GradientBasedInference(num_steps=5, step_size=100.0, method=method)(context(score=score)).y
    torch.testing.assert_close(y, torch.full((2, 1, 3), 0.5))
    # with a small step it climbs towards 0.55 instead
    y = GradientBasedInference(num_steps=50, step_size=0.25, method=method)(context(score=score)).y
    assert torch.all(y > 0.54) and torch.all(y <= 0.55 + 1e-4)


def test_gbi_on_a_linear_score_moves_towards_the_sign_of_the_logits():
    # score(y) = <logits, y>: the maximiser over [0, 1]^n is y_i = [logit_i > 0]
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    score = ScoreNN(FixedTaskNN(logits)).bind({})
    y = GradientBasedInference(num_steps=50, step_size=0.5, method="projected")(context(score=score)).y
    torch.testing.assert_close(y, torch.tensor([[[1.0, 0.0, 1.0, 0.0]]]))


def test_gbi_with_zero_steps_returns_the_start():
    score = random_score()
    y = GradientBasedInference(num_steps=0)(context(score=score)).y
    torch.testing.assert_close(y, torch.full((4, 1, 6), 0.5))


def test_gbi_init_task_net_starts_from_the_task_net():
    score = random_score(num_labels=2, batch=1)
    y = GradientBasedInference(num_steps=0, init="task-net")(context(task_logits=TASK_LOGITS, score=score)).y
    torch.testing.assert_close(y, torch.tensor([[[0.5, 0.75]]]))


def test_gbi_init_task_net_never_scores_below_the_task_net():
    score = random_score(seed=5)
    task_logits = torch.randn(4, 6) * 3
    y = GradientBasedInference(num_steps=10, init="task-net")(context(task_logits=task_logits, score=score)).y
    with torch.no_grad():
        assert torch.all(score(y) >= score(torch.sigmoid(task_logits).unsqueeze(1)))


def test_gbi_init_task_net_without_task_net_raises():
    with pytest.raises(ConfigurationError, match="task-net"):
        GradientBasedInference(init="task-net")(context(score=random_score()))


def test_cost_augmented_gbi_with_zero_score_moves_away_from_gold():
    num_labels = 4
    score_nn = ScoreNN(FixedTaskNN(torch.zeros(2, num_labels)), LabelMLPScore(label_vocab(num_labels), 3))
    with torch.no_grad():
        for parameter in score_nn.parameters():
            parameter.zero_()
    labels = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1]])
    gbi = GradientBasedInference(num_steps=30, step_size=1.0, cost_augmented=F1Oracle())
    y = gbi(context(labels=labels, score=score_nn.bind({}))).y
    # The objective is 0 + (1 - F1): d(1 - F1)/dy_i < 0 for gold labels, > 0 for the others.
    gold = labels.unsqueeze(1).bool()
    assert torch.all(y[gold] < 0.5) and torch.all(y[~gold] > 0.5)
    oracle = F1Oracle()
    assert torch.all(oracle.task_loss(y, labels) > oracle.task_loss(torch.full_like(y, 0.5), labels) + 0.3)
    # Without the cost, a zero score gives zero gradient: the start point is returned.
    plain = GradientBasedInference(num_steps=30, step_size=1.0)(context(labels=labels, score=score_nn.bind({}))).y
    torch.testing.assert_close(plain, torch.full_like(y, 0.5))


def test_cost_augmented_gbi_without_labels_raises():
    with pytest.raises(ConfigurationError, match="labels"):
        GradientBasedInference(cost_augmented=F1Oracle())(context(score=random_score()))


def test_gbi_works_under_no_grad_and_gives_the_same_result():
    score = random_score(seed=7)
    gbi = GradientBasedInference(num_steps=15)
    expected = gbi(context(score=score)).y
    with torch.no_grad():
        y = gbi(context(score=score)).y
    torch.testing.assert_close(y, expected)
    assert not y.requires_grad


def test_gbi_output_carries_no_gradient_to_the_score_net():
    score_nn = ScoreNN(FixedTaskNN(torch.randn(2, 3)), LabelMLPScore(label_vocab(3), 4))
    y = GradientBasedInference(num_steps=5)(context(score=score_nn.bind({}))).y
    assert not y.requires_grad
    assert all(p.grad is None for p in score_nn.parameters())


def test_gbi_without_score_raises():
    with pytest.raises(ConfigurationError, match="score-net"):
        GradientBasedInference()(context(task_logits=TASK_LOGITS))


@pytest.mark.parametrize("kwargs", [{"init": "random"}, {"method": "newton"}])
def test_gbi_unknown_options_raise(kwargs):
    with pytest.raises(ConfigurationError):
        GradientBasedInference(**kwargs)



# ---- crop-average --------------------------------------------------------------------------
class WindowMeanSampler(Sampler):
    """Per instance, a window filled with the mean of the bound score's logits over that window
    (plus the labels' mean when given), recording the windows' shapes."""

    def __init__(self):
        self.shapes = []

    def __call__(self, context):
        logits = context.score.task_output.logits
        assert context.task_logits.shape == logits.shape == context.labels.shape
        assert context.score.task_output.features.shape[-2:] == logits.shape[-2:]
        self.shapes.append(tuple(logits.shape[-2:]))
        value = logits.mean(dim=(1, 2)) + context.labels.float().mean(dim=(1, 2))
        return Samples(value[:, None, None, None].expand(-1, 2, *logits.shape[-2:]), None)


def mask_context(logits, features=None, labels=None):
    score = ScoreNN(FixedTaskNN(logits, features)).bind({})
    labels = torch.zeros(logits.shape, dtype=torch.long) if labels is None else labels
    return SamplingContext(output_space=BinaryMaskOutputSpace(), task_logits=logits, labels=labels,
                           score=score)


def test_crop_average_averages_the_windows_covering_each_pixel():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 5, generator=generator)
    labels = (torch.rand(2, 6, 5, generator=generator) < 0.5).long()
    features = torch.randn(2, 3, 6, 5, generator=generator)
    inner = WindowMeanSampler()
    samples = CropAverage(inner, crop_size=(3, 2), stride=2)(mask_context(logits, features, labels))
    # brute force: rows start at 0, 2 and 3 (the last window ends at the border), columns at 0, 2, 3
    expected = torch.zeros(2, 6, 5)
    count = torch.zeros(6, 5)
    for top in (0, 2, 3):
        for left in (0, 2, 3):
            window = (slice(None), slice(top, top + 3), slice(left, left + 2))
            value = logits[window].mean(dim=(1, 2)) + labels[window].float().mean(dim=(1, 2))
            expected[window] += value[:, None, None]
            count[top:top + 3, left:left + 2] += 1
    torch.testing.assert_close(samples.y, (expected / count).unsqueeze(1).expand(-1, 2, -1, -1))
    assert inner.shapes == [(3, 2)] * 9 and samples.log_q is None


def test_crop_average_of_a_per_pixel_sampler_is_that_sampler():
    logits = torch.randn(3, 7, 6, generator=torch.Generator().manual_seed(1))
    context = mask_context(logits)
    averaged = CropAverage(TaskNetSampler(), crop_size=(4, 4), stride=1)(context).y
    torch.testing.assert_close(averaged, TaskNetSampler()(context).y)


def test_crop_average_with_one_window_is_the_sampler_itself():
    torch.manual_seed(0)
    logits = torch.randn(2, 8, 8)
    score_nn = ScoreNN(FixedTaskNN(logits), MaskConvScore(channels=[4], kernel_size=3, hidden_dims=[8]))
    context = SamplingContext(output_space=BinaryMaskOutputSpace(), task_logits=logits,
                              score=score_nn.bind({}))
    gbi = GradientBasedInference(num_steps=5, step_size=1.0)
    whole = CropAverage(gbi, crop_size=(8, 10))(context).y
    torch.testing.assert_close(whole, gbi(context).y)


def test_crop_average_from_params_and_bad_input():
    sampler = Sampler.from_params(Params({"type": "crop-average", "crop_size": [24, 24], "stride": 2,
                                          "sampler": {"type": "gradient-based-inference", "num_steps": 3}}))
    assert isinstance(sampler, CropAverage) and isinstance(sampler.sampler, GradientBasedInference)
    with pytest.raises(ConfigurationError, match="crop_size"):
        CropAverage(TaskNetSampler(), crop_size=(0, 3))
    with pytest.raises(ConfigurationError, match="2-D outputs"):  # label sets are not images
        CropAverage(TaskNetSampler(), crop_size=(2, 2))(context(task_logits=TASK_LOGITS, score=random_score()))
    bad_features = mask_context(torch.zeros(1, 4, 4), features=torch.zeros(1, 4, 5))
    with pytest.raises(ConfigurationError, match="features"):
        CropAverage(TaskNetSampler(), crop_size=(2, 2))(bad_features)
