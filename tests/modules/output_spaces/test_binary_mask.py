"""The `binary-mask` output space, and its per-pixel Bernoulli against brute-force enumeration of
every mask of a 2x2 image."""
import itertools
import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.distributions import Bernoulli
from seal.modules.output_spaces import BinaryMaskOutputSpace, OutputSpace
from seal.modules.task_nets import TaskOutput

# Two 2x2 images' logits.
LOGITS = torch.tensor([[[0.3, -1.2], [2.0, 0.0]], [[-0.5, 1.5], [0.7, -2.5]]], dtype=torch.float64)
# Every 2x2 mask, `(16, 2, 2)`.
MASKS = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64).view(16, 2, 2)


@pytest.fixture
def space():
    return BinaryMaskOutputSpace()


def brute_force_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """`p(y)` of every mask of `MASKS` for each image: the product over pixels of `sigmoid(l)` where
    the pixel is on and `1 - sigmoid(l)` where it is off, `(batch, 16)`."""
    p = torch.sigmoid(logits).unsqueeze(1)  # (B, 1, 2, 2)
    return torch.where(MASKS.bool(), p, 1 - p).flatten(2).prod(-1)


def test_registered():
    assert OutputSpace.by_name("binary-mask") is BinaryMaskOutputSpace
    assert OutputSpace.from_params(Params({"type": "binary-mask", "threshold": 0.3})).threshold == 0.3


def test_distribution_is_a_bernoulli_per_pixel(space):
    distribution = space.distribution(TaskOutput(LOGITS))
    assert isinstance(distribution, Bernoulli) and distribution.factorised
    assert distribution.label_shape == (2, 2) and distribution.mask is None
    assert space.prediction(distribution) is None  # decoded from the marginals by the threshold


def test_log_probabilities_marginals_entropy_and_argmax_match_enumeration(space):
    distribution = space.distribution(TaskOutput(LOGITS))
    expected = brute_force_probabilities(LOGITS)
    log_p = distribution.log_prob(MASKS.unsqueeze(0).expand(2, -1, -1, -1))
    torch.testing.assert_close(log_p.exp(), expected)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(space.log_probability(LOGITS, MASKS.unsqueeze(0).expand(2, -1, -1, -1)), log_p)
    torch.testing.assert_close(distribution.marginals(), (expected[:, :, None, None] * MASKS).sum(1))
    torch.testing.assert_close(distribution.entropy(), -(expected * expected.log()).sum(-1))
    torch.testing.assert_close(distribution.log_partition(), torch.nn.functional.softplus(LOGITS).sum((1, 2)))
    best = MASKS[expected.argmax(-1)]
    assert torch.equal(distribution.argmax(), best)
    assert distribution.argmax()[0, 1, 1] == 0  # probability exactly 1/2 is off ...
    assert space.decode(distribution.marginals())[0, 1, 1] == 1  # ... but decodes on (>= threshold)


def test_relaxed_log_probability_is_the_expectation_over_the_relaxed_mask(space):
    q = torch.tensor([[[[0.2, 0.9], [0.5, 0.1]]]], dtype=torch.float64)
    weights = brute_force_probabilities(torch.logit(q[:, 0]))[0]  # q's probability of each mask
    log_p = torch.log(brute_force_probabilities(LOGITS[:1])[0])
    expected = (weights * log_p).sum()
    assert space.log_probability(LOGITS[:1], q).item() == pytest.approx(expected.item(), abs=1e-12)


def test_sampling_frequencies_match_enumeration(space):
    """Chi-square of the counts of each of the 16 masks in 20000 draws, below a 1e-4 tail bound."""
    num_samples = 20000
    samples = space.distribution(TaskOutput(LOGITS)).sample(num_samples, torch.Generator().manual_seed(0))
    assert samples.shape == (2, num_samples, 2, 2) and not samples.requires_grad
    expected = brute_force_probabilities(LOGITS)
    degrees = len(MASKS) - 1
    for b in range(2):
        counts = (samples[b].unsqueeze(1) == MASKS.unsqueeze(0)).flatten(2).all(-1).sum(0).double()
        assert counts.sum() == num_samples  # every sample is a mask of 0/1
        chi_square = ((counts - num_samples * expected[b]) ** 2 / (num_samples * expected[b])).sum().item()
        assert chi_square < degrees + 6 * math.sqrt(2 * degrees)


def test_sample_from_probabilities(space):
    torch.manual_seed(0)
    probabilities = torch.tensor([[[0.0, 1.0, 0.3], [0.5, 0.9, 0.1]]])
    samples = space.sample(probabilities, 4000)
    assert samples.shape == (1, 4000, 2, 3)
    assert samples[0, :, 0, 0].sum() == 0 and samples[0, :, 0, 1].sum() == 4000
    # standard error of a frequency over 4000 draws is at most 0.008: 0.04 is 5 sigma
    torch.testing.assert_close(samples.mean(1), probabilities, atol=0.04, rtol=0.0)


def test_relaxed_outputs_projection_ascent_and_uniform(space):
    y = torch.tensor([[[[-0.5, 0.3], [1.0, 2.5]]]])
    torch.testing.assert_close(space.project(y), torch.tensor([[[[0.0, 0.3], [1.0, 1.0]]]]))
    start = torch.full((1, 1, 2, 2), 0.5)
    gradient = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])
    torch.testing.assert_close(space.ascent_step(start, gradient, 0.1, "projected"), start + 0.1 * gradient)
    entropic = space.ascent_step(start, gradient, 0.1, "entropic")
    torch.testing.assert_close(entropic, torch.sigmoid(0.1 * gradient))
    torch.testing.assert_close(space.uniform(torch.zeros(2, 1, 3, 4)), torch.full((2, 1, 3, 4), 0.5))
    torch.testing.assert_close(space.log_potentials(torch.tensor([[[0.5, 0.75]]])),
                               torch.tensor([[[0.0, math.log(3.0)]]]))


def test_labels_and_decisions(space):
    labels = torch.tensor([[[0, 1, 1], [0, 0, 1]], [[1, 1, 1], [1, 1, 1]]])
    encoded = space.encode_labels(labels, None, 3)
    assert encoded.dtype == torch.get_default_dtype() and torch.equal(encoded, labels.float())
    torch.testing.assert_close(space.num_decisions(None, encoded), torch.tensor([6.0, 6.0]))
    assert space.mask_outputs(encoded, None) is encoded
    with pytest.raises(ConfigurationError, match="height, width"):
        space.encode_labels(labels[0], None, 3)
    with pytest.raises(ConfigurationError, match="0 and 1"):
        space.encode_labels(labels * 2, None, 3)


def test_metrics_are_mean_and_global_iou_and_pixel_accuracy(space):
    metrics = space.default_metrics(Vocabulary())
    assert set(metrics) == {"mean_iou", "global_iou", "pixel_accuracy"}
    probabilities = torch.tensor([[[0.9, 0.2], [0.7, 0.1]], [[0.1, 0.1], [0.1, 0.1]]])
    gold = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    space.update_metrics(metrics, probabilities, gold)
    values = {name: metric.get_metric() for name, metric in metrics.items()}
    # image 0: I = 1, U = 3; image 1: empty/empty
    assert values == pytest.approx({"mean_iou": (1 / 3 + 1) / 2, "global_iou": 1 / 3, "pixel_accuracy": 6 / 8})


def test_human_readable_is_the_thresholded_mask(space):
    probabilities = torch.tensor([[[0.9, 0.5], [0.49, 0.1]]])
    assert space.human_readable(probabilities, Vocabulary()) == [
        {"predicted_mask": [[1, 1], [0, 0]], "foreground_fraction": 0.5}
    ]
    given = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])
    assert space.human_readable(probabilities, Vocabulary(), predictions=given)[0]["predicted_mask"] == [[0, 0], [0, 1]]


def test_task_outputs_it_cannot_read_are_errors(space):
    with pytest.raises(ConfigurationError, match="transitions"):
        space.distribution(TaskOutput(LOGITS, transitions=torch.zeros(2, 2)))
    with pytest.raises(ConfigurationError, match="padding"):
        space.distribution(TaskOutput(LOGITS, mask=torch.ones(2, 2, dtype=torch.bool)))
    with pytest.raises(ConfigurationError, match="height, width"):
        space.distribution(TaskOutput(LOGITS[0]))  # a label set is not a mask
