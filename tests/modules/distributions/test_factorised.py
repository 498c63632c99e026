"""Bernoulli and Categorical against brute-force enumeration of every output."""
import itertools
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.distributions import Bernoulli, Categorical


def bernoulli_outputs(num_labels):
    """Every 0/1 label vector `(2 ** L, L)`."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=num_labels)), dtype=torch.float64)


def categorical_outputs(lengths, num_tags, length):
    """Per sequence, every one-hot output over its real positions (zeros at padding) `(M_b, T, K)`."""
    outputs = []
    for real in lengths:
        rows = []
        for tags in itertools.product(range(num_tags), repeat=real):
            y = torch.zeros(length, num_tags, dtype=torch.float64)
            y[torch.arange(real), list(tags)] = 1.0
            rows.append(y)
        outputs.append(torch.stack(rows))
    return outputs


def check_against_enumeration(distribution, outputs):
    """`outputs[b]` `(M, *label_shape)` lists every output of example `b`: probabilities sum to 1,
    and marginals and entropy are the enumerated ones."""
    marginals, entropy = distribution.marginals(), distribution.entropy()
    for b, ys in enumerate(outputs):
        batch_ys = ys.unsqueeze(0).expand(distribution.batch_size, *ys.shape)
        log_p = distribution.log_prob(batch_ys)[b]
        p = log_p.exp()
        assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
        torch.testing.assert_close(marginals[b], (p.view(-1, *[1] * (ys.dim() - 1)) * ys).sum(0))
        assert entropy[b].item() == pytest.approx(-(p * log_p).sum().item(), abs=1e-12)
        best = ys[log_p.argmax()]
        assert torch.equal(distribution.argmax()[b], best)


def frequencies_match(samples, outputs, probabilities, num_samples):
    """Chi-square statistic of the sample counts per enumerated output, below a 1e-4 tail bound."""
    counts = (samples.unsqueeze(1) == outputs.unsqueeze(0)).flatten(2).all(-1).sum(0).double()
    assert counts.sum().item() == num_samples  # every sample is one of the outputs
    expected = num_samples * probabilities
    chi_square = ((counts - expected) ** 2 / expected).sum().item()
    degrees = len(outputs) - 1
    return chi_square < degrees + 6 * math.sqrt(2 * degrees)


def test_bernoulli_matches_enumeration():
    logits = torch.tensor([[0.3, -1.2, 2.0], [-0.5, 0.0, 4.0]], dtype=torch.float64)
    distribution = Bernoulli(logits)
    assert distribution.label_shape == (3,) and distribution.mask is None
    outputs = bernoulli_outputs(3)
    check_against_enumeration(distribution, [outputs, outputs])
    torch.testing.assert_close(distribution.log_partition(), torch.nn.functional.softplus(logits).sum(-1))
    assert distribution.argmax()[1, 1] == 0  # probability 1/2 is off


def test_bernoulli_sampling_frequencies():
    logits = torch.tensor([[0.3, -1.2, 1.0]], dtype=torch.float64)
    distribution = Bernoulli(logits)
    samples = distribution.sample(20000, torch.Generator().manual_seed(0))[0]
    outputs = bernoulli_outputs(3)
    probabilities = distribution.log_prob(outputs.unsqueeze(0))[0].exp()
    assert frequencies_match(samples, outputs, probabilities, 20000)


def categorical_example():
    logits = torch.tensor([[[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]], [[1.0, 1.0, -2.0], [9.0, 9.0, 9.0]]],
                          dtype=torch.float64)
    mask = torch.tensor([[True, True], [True, False]])
    return Categorical(logits, mask), categorical_outputs([2, 1], 3, 2)


def test_categorical_with_a_mask_matches_enumeration():
    distribution, outputs = categorical_example()
    assert distribution.label_shape == (2, 3)
    check_against_enumeration(distribution, outputs)
    assert distribution.marginals()[1, 1].eq(0).all() and distribution.argmax()[1, 1].eq(0).all()
    # padding takes no part: any values there leave every quantity unchanged
    logits = distribution.potentials.clone()
    logits[1, 1] = torch.tensor([-5.0, 3.0, float("nan")])
    logits.requires_grad_()
    other = Categorical(logits, distribution.mask)
    torch.testing.assert_close(other.log_partition(), distribution.log_partition())
    torch.testing.assert_close(other.entropy(), distribution.entropy())
    (other.log_partition() + other.entropy()).sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1, 1].eq(0).all()


def test_categorical_sampling_frequencies():
    distribution, outputs = categorical_example()
    samples = distribution.sample(20000, torch.Generator().manual_seed(0))
    assert samples.shape == (2, 20000, 2, 3) and samples[1, :, 1].eq(0).all()
    for b in range(2):
        probabilities = distribution.log_prob(outputs[b].unsqueeze(0).expand(2, -1, -1, -1))[b].exp()
        assert frequencies_match(samples[b], outputs[b], probabilities, 20000)


def test_relaxed_outputs_give_the_expected_log_probability():
    distribution, outputs = categorical_example()
    q = torch.softmax(torch.randn(2, 1, 2, 3, dtype=torch.float64), -1)
    relaxed = distribution.log_prob(q)
    for b in range(2):
        weights = (outputs[b] * q[b]).sum(-1)  # (M, T): q's probability of each output's tag per position
        weights = torch.where(distribution.mask[b], weights, torch.ones_like(weights)).prod(-1)
        expected = (weights * distribution.log_prob(outputs[b].unsqueeze(0).expand(2, -1, -1, -1))[b]).sum()
        assert relaxed[b, 0].item() == pytest.approx(expected.item(), abs=1e-12)


def test_the_score_is_linear_in_relaxed_outputs_also_at_zero_entries():
    distribution, _ = categorical_example()
    y = distribution.argmax().unsqueeze(1).requires_grad_()  # one-hot: most entries exactly 0
    distribution.score(y).sum().backward()
    torch.testing.assert_close(y.grad[:, 0], distribution.potentials * distribution.mask.unsqueeze(-1))


def test_a_forbidden_value_has_probability_zero_and_finite_entropy():
    logits = torch.tensor([[[0.0, -math.inf, 1.0]]], dtype=torch.float64, requires_grad=True)
    distribution = Categorical(logits)
    assert distribution.marginals()[0, 0, 1] == 0
    entropy = distribution.entropy()
    entropy.sum().backward()
    assert torch.isfinite(entropy).all() and torch.isfinite(logits.grad).all()
    assert distribution.log_prob(torch.tensor([[[[0.0, 1.0, 0.0]]]], dtype=torch.float64))[0, 0] == -math.inf


def test_shapes_are_checked():
    with pytest.raises(ConfigurationError, match="num_labels"):
        Bernoulli(torch.zeros(2, 3, 4))
    with pytest.raises(ConfigurationError, match="mask of shape"):
        Categorical(torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ConfigurationError, match="outputs y of shape"):
        Bernoulli(torch.zeros(2, 3)).log_prob(torch.zeros(2, 3))
