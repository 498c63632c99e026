import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.output_spaces import MultiLabelOutputSpace, OutputSpace
from tests.modules.stubs import label_vocab

# 2 labels with logits (0, log 3): p = (sigmoid(0), sigmoid(log 3)) = (1/2, 3/4).
LOGITS = torch.tensor([[0.0, math.log(3.0)]])


@pytest.fixture
def space():
    return MultiLabelOutputSpace()


def test_registered_as_default_multi_label():
    assert OutputSpace.default_implementation == "multi-label"
    assert OutputSpace.by_name("multi-label") is MultiLabelOutputSpace


def test_probabilities_are_sigmoid_of_logits(space):
    torch.testing.assert_close(space.probabilities(LOGITS), torch.tensor([[0.5, 0.75]]))


def test_log_probability_of_discrete_outputs_is_bernoulli_log_likelihood(space):
    y = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]])  # (1, 4, 2)
    expected = torch.tensor(
        [
            [
                math.log(0.5 * 0.25),  # y=(1,0): p0 * (1 - p1)
                math.log(0.5 * 0.75),  # y=(0,1): (1 - p0) * p1
                math.log(0.5 * 0.75),  # y=(1,1): p0 * p1
                math.log(0.5 * 0.25),  # y=(0,0): (1 - p0) * (1 - p1)
            ]
        ]
    )
    torch.testing.assert_close(space.log_probability(LOGITS, y), expected)


def test_log_probability_of_relaxed_output_is_negative_cross_entropy(space):
    y = torch.tensor([[[0.5, 0.5]]])
    # sum_i y_i log p_i + (1 - y_i) log(1 - p_i)
    expected = 0.5 * math.log(0.5) + 0.5 * math.log(0.5) + 0.5 * math.log(0.75) + 0.5 * math.log(0.25)
    assert space.log_probability(LOGITS, y).item() == pytest.approx(expected, abs=1e-6)


def test_log_probability_shape_with_batch_and_samples(space):
    logits = torch.randn(3, 4)
    y = torch.bernoulli(torch.full((3, 5, 4), 0.5))
    assert space.log_probability(logits, y).shape == (3, 5)


def test_log_probability_is_differentiable_in_logits(space):
    logits = LOGITS.clone().requires_grad_(True)
    space.log_probability(logits, torch.tensor([[[1.0, 0.0]]])).sum().backward()
    # d/dz log sigmoid(z) = 1 - p ; d/dz log(1 - sigmoid(z)) = -p
    torch.testing.assert_close(logits.grad, torch.tensor([[0.5, -0.75]]))


def test_sample_shape_and_binary_values(space):
    torch.manual_seed(0)
    samples = space.sample(torch.tensor([[0.1, 0.5, 0.9], [0.3, 0.7, 0.2]]), num_samples=7)
    assert samples.shape == (2, 7, 3)
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    assert not samples.requires_grad


def test_sample_frequencies_match_probabilities(space):
    torch.manual_seed(1234)
    probabilities = torch.tensor([[0.1, 0.5, 0.9], [0.0, 1.0, 0.25]])
    samples = space.sample(probabilities, num_samples=20000)
    # Standard error of a frequency with 20000 draws is at most 0.0036: 0.015 is > 4 sigma.
    torch.testing.assert_close(samples.mean(1), probabilities, atol=0.015, rtol=0.0)
    # Probabilities 0 and 1 are sampled deterministically.
    assert samples[1, :, 0].sum() == 0
    assert samples[1, :, 1].sum() == 20000


def test_sample_has_no_gradient_even_from_grad_probabilities(space):
    probabilities = torch.tensor([[0.3, 0.6]], requires_grad=True)
    assert not space.sample(probabilities, 3).requires_grad


def test_project_clamps_to_unit_interval(space):
    y = torch.tensor([[[-0.5, 0.0, 0.3, 1.0, 2.5]]])
    torch.testing.assert_close(space.project(y), torch.tensor([[[0.0, 0.0, 0.3, 1.0, 1.0]]]))


def test_projected_ascent_step_is_clamped_euclidean_step(space):
    y = torch.tensor([[[0.2, 0.9, 0.5, 0.1]]])
    gradient = torch.tensor([[[1.0, 1.0, -2.0, -0.1]]])
    # y + 0.5 * g = (0.7, 1.4, -0.5, 0.05) -> clamp -> (0.7, 1.0, 0.0, 0.05)
    stepped = space.ascent_step(y, gradient, 0.5, "projected")
    torch.testing.assert_close(stepped, torch.tensor([[[0.7, 1.0, 0.0, 0.05]]]))


def test_entropic_ascent_step_is_a_step_on_the_logit(space):
    y = torch.tensor([[[0.5, 0.25]]])
    gradient = torch.tensor([[[2.0, -1.0]]])
    # sigmoid(logit(0.5) + 0.5 * 2) = sigmoid(1); sigmoid(logit(0.25) - 0.5) = sigmoid(-log 3 - 0.5)
    expected = torch.tensor([[[1.0 / (1.0 + math.exp(-1.0)), 1.0 / (1.0 + math.exp(math.log(3.0) + 0.5))]]])
    torch.testing.assert_close(space.ascent_step(y, gradient, 0.5, "entropic"), expected)


@pytest.mark.parametrize("method", ["projected", "entropic"])
def test_ascent_step_stays_in_unit_interval_and_follows_gradient(space, method):
    torch.manual_seed(0)
    y = torch.rand(4, 3, 6) * 0.8 + 0.1  # strictly inside, so projected steps can move both ways
    gradient = torch.randn(4, 3, 6) * 5
    stepped = space.ascent_step(y, gradient, 0.3, method)
    assert stepped.shape == y.shape
    assert stepped.min() >= 0.0 and stepped.max() <= 1.0
    # Every coordinate moves (weakly) in the direction of its gradient entry...
    assert torch.all((stepped - y) * gradient >= 0)
    # ...and strictly where the gradient is nonzero and the step is not stopped by a bound.
    inside = (stepped > 0) & (stepped < 1)
    assert torch.all(((stepped - y) * gradient)[inside] > 0)


def test_entropic_ascent_step_starting_at_the_bounds_stays_in_unit_interval(space):
    y = torch.tensor([[[0.0, 1.0, 0.0, 1.0]]])
    gradient = torch.tensor([[[1.0, -1.0, -1.0, 1.0]]])
    stepped = space.ascent_step(y, gradient, 0.1, "entropic")
    assert stepped.min() >= 0.0 and stepped.max() <= 1.0
    assert stepped[0, 0, 0] > 0.0 and stepped[0, 0, 1] < 1.0  # moved off the bound, inwards


def test_ascent_step_is_differentiable_in_y(space):
    y = torch.tensor([[[0.3, 0.6]]], requires_grad=True)
    space.ascent_step(y, torch.ones(1, 1, 2), 0.1, "entropic").sum().backward()
    assert y.grad is not None and torch.all(y.grad > 0)


def test_unknown_ascent_method_raises(space):
    with pytest.raises(ConfigurationError, match="unknown ascent method"):
        space.ascent_step(torch.full((1, 1, 2), 0.5), torch.ones(1, 1, 2), 0.1, "newton")


def test_uniform_is_one_half_everywhere(space):
    like = torch.randn(2, 3, 4)
    torch.testing.assert_close(space.uniform(like), torch.full((2, 3, 4), 0.5))


def test_decode_thresholds_at_one_half_inclusive(space):
    probabilities = torch.tensor([[0.49, 0.5, 0.51, 0.0, 1.0]])
    torch.testing.assert_close(space.decode(probabilities), torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]]))


def test_decode_uses_configured_threshold():
    space = MultiLabelOutputSpace(threshold=0.7)
    probabilities = torch.tensor([[[0.6, 0.7, 0.8]]])  # any leading shape
    torch.testing.assert_close(space.decode(probabilities), torch.tensor([[[0.0, 1.0, 1.0]]]))


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
def test_threshold_outside_open_unit_interval_raises(threshold):
    with pytest.raises(ConfigurationError):
        MultiLabelOutputSpace(threshold=threshold)


def test_num_decisions_is_number_of_labels(space):
    labels = torch.zeros(3, 5, dtype=torch.long)
    torch.testing.assert_close(space.num_decisions(None, labels), torch.tensor([5, 5, 5]))


def test_mask_outputs_is_identity(space):
    y = torch.rand(2, 3, 4)
    assert space.mask_outputs(y, None) is y


def test_human_readable_lists_labels_above_threshold(space):
    readable = space.human_readable(torch.tensor([[0.9, 0.2, 0.5]]), label_vocab(3))
    assert readable == [
        {"predicted_labels": ["label0", "label2"], "label_probabilities": {"label0": 0.9, "label1": 0.2, "label2": 0.5}}
    ]


def test_top_labels_and_precision_at_k_on_request():
    space = MultiLabelOutputSpace(precision_at=[1, 2], top_k=2)
    readable = space.human_readable(torch.tensor([[0.9, 0.2, 0.5]]), label_vocab(3))[0]
    assert readable["top_labels"] == [{"label": "label0", "probability": 0.9}, {"label": "label2", "probability": 0.5}]
    metrics = space.default_metrics(label_vocab(3))
    # gold {label1, label2}: top-1 label0 misses (p@1 = 0), top-2 {label0, label2} hits once (p@2 = 0.5)
    space.update_metrics(metrics, torch.tensor([[0.9, 0.2, 0.5]]), torch.tensor([[0, 1, 1]]))
    assert metrics["precision_at_k"].get_metric() == {"p@1": 0.0, "p@2": 0.5}
    with pytest.raises(ConfigurationError, match="top_k"):
        MultiLabelOutputSpace(top_k=-1)
