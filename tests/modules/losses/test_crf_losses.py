"""The objectives of a CRF task-net against brute-force enumeration of every tag sequence of a tiny
chain (two sequences, lengths 3 and 2, three tags): `cross-entropy` (the log-likelihood),
`crf-marginal-cross-entropy`, `crf-ssvm`, and `crf-mean-field-cross-entropy` against a plain loop."""
import itertools
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.losses import (
    CRFMarginalCrossEntropyLoss,
    CRFMeanFieldCrossEntropyLoss,
    CRFStructuredHingeLoss,
    CrossEntropyLoss,
    Loss,
    LossInputs,
)
from seal.modules.output_spaces import SequenceTagsOutputSpace

SPACE = SequenceTagsOutputSpace()
NUM_TAGS = 3
LENGTHS = [3, 2]
GOLD = torch.tensor([[2, 0, 1], [1, 1, 0]])  # the last tag of the second sequence is padding
MASK = torch.tensor([[True, True, True], [True, True, False]])


def potentials(seed=0, coupling=1.0):
    generator = torch.Generator().manual_seed(seed)
    unary = torch.randn(2, 3, NUM_TAGS, generator=generator)
    transitions = coupling * torch.randn(NUM_TAGS, NUM_TAGS, generator=generator)
    start, end = (coupling * torch.randn(NUM_TAGS, generator=generator) for _ in range(2))
    return unary, transitions, start, end


def inputs(unary, transitions, start, end):
    labels = SPACE.encode_labels(GOLD, MASK, NUM_TAGS)
    return LossInputs(output_space=SPACE, task_logits=unary, labels=labels, mask=MASK,
                      task_transitions=(transitions, start, end))


def score(tags, b, unary, transitions, start, end):
    total = start[tags[0]] + end[tags[-1]] + sum(unary[b, t, tag] for t, tag in enumerate(tags))
    return float(total + sum(transitions[i, j] for i, j in zip(tags, tags[1:])))


def enumerate_chain(b, *p):
    """Every sequence of length `LENGTHS[b]` with its score, and `log Z`."""
    sequences = list(itertools.product(range(NUM_TAGS), repeat=LENGTHS[b]))
    scores = [score(tags, b, *p) for tags in sequences]
    return sequences, scores, math.log(sum(math.exp(s) for s in scores))


def gold_tags(b):
    return tuple(GOLD[b, : LENGTHS[b]].tolist())


def brute_force_marginals(b, *p):
    sequences, scores, log_z = enumerate_chain(b, *p)
    marginals = torch.zeros(LENGTHS[b], NUM_TAGS, dtype=torch.float64)
    for tags, s in zip(sequences, scores):
        for t, tag in enumerate(tags):
            marginals[t, tag] += math.exp(s - log_z)
    return marginals


def per_token_mean(values):
    return sum(v / n for v, n in zip(values, LENGTHS)) / len(LENGTHS)


def marginal_ce(marginals_of):
    return per_token_mean([-sum(math.log(marginals_of(b)[t, tag]) for t, tag in enumerate(gold_tags(b)))
                           for b in range(2)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_entropy_of_a_crf_is_its_negative_log_likelihood(seed):
    p = potentials(seed)
    expected = per_token_mean([enumerate_chain(b, *p)[2] - score(gold_tags(b), b, *p) for b in range(2)])
    assert CrossEntropyLoss()(inputs(*p)).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marginal_cross_entropy_uses_the_exact_marginals(seed):
    p = potentials(seed)
    expected = marginal_ce(lambda b: brute_force_marginals(b, *p))
    assert CRFMarginalCrossEntropyLoss()(inputs(*p)).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_ssvm_is_the_hamming_augmented_hinge(seed, weight):
    p = potentials(seed)
    losses = []
    for b in range(2):
        sequences, scores, _ = enumerate_chain(b, *p)
        gold = gold_tags(b)
        augmented = max(s + weight * sum(x != y for x, y in zip(tags, gold)) for tags, s in zip(sequences, scores))
        losses.append(augmented - score(gold, b, *p))
    assert CRFStructuredHingeLoss(weight)(inputs(*p)).item() == pytest.approx(per_token_mean(losses), abs=1e-5)


REDUCE = {
    "instance": per_token_mean,
    "decision": lambda values: sum(values) / sum(LENGTHS),
    "sum": sum,
}


@pytest.mark.parametrize("reduction", list(REDUCE))
def test_every_crf_objective_reduces_the_batch_as_asked(reduction):
    """Each objective's per-sentence sums (by enumeration) reduced by `reduction`: per-token mean of
    each sentence then over sentences, mean over all tokens, or the batch's sum."""
    p = potentials(0)
    reduce = REDUCE[reduction]
    log_likelihoods, hinges, marginal = [], [], []
    for b in range(2):
        sequences, scores, log_z = enumerate_chain(b, *p)
        gold = gold_tags(b)
        log_likelihoods.append(log_z - score(gold, b, *p))
        hinges.append(max(s + sum(x != y for x, y in zip(tags, gold)) for tags, s in zip(sequences, scores))
                      - score(gold, b, *p))
        marginals = brute_force_marginals(b, *p)
        marginal.append(-sum(math.log(marginals[t, tag]) for t, tag in enumerate(gold)))
    expected = {"cross-entropy": reduce(log_likelihoods), "ssvm": reduce(hinges), "marginal": reduce(marginal)}
    computed = {
        "cross-entropy": CrossEntropyLoss(reduction)(inputs(*p)).item(),
        "ssvm": CRFStructuredHingeLoss(reduction=reduction)(inputs(*p)).item(),
        "marginal": CRFMarginalCrossEntropyLoss(reduction)(inputs(*p)).item(),
    }
    assert computed == pytest.approx(expected, abs=1e-5)
    assert len(set(LENGTHS)) > 1  # else the reductions differ by a constant factor only


def test_ssvm_is_zero_when_the_gold_wins_by_the_margin():
    unary = 10.0 * torch.nn.functional.one_hot(GOLD, NUM_TAGS).float()
    zeros = torch.zeros(NUM_TAGS, NUM_TAGS)
    assert CRFStructuredHingeLoss()(inputs(unary, zeros, None, None)).item() == pytest.approx(0.0, abs=1e-6)


def mean_field_loop(b, iterations, unary, transitions, start, end):
    """Parallel mean-field updates `q_t <- softmax(local_t + q_{t-1} T + T q_{t+1})`, position by
    position, from `q_t = softmax(local_t)`."""
    n = LENGTHS[b]
    local = [unary[b, t].double() + (start if t == 0 else 0) + (end if t == n - 1 else 0) for t in range(n)]
    q = [torch.softmax(v, -1) for v in local]
    transitions = transitions.double()
    for _ in range(iterations):
        q = [torch.softmax(local[t] + (q[t - 1] @ transitions if t > 0 else 0)
                           + (transitions @ q[t + 1] if t < n - 1 else 0), -1) for t in range(n)]
    return torch.stack(q)


@pytest.mark.parametrize("iterations", [0, 1, 4])
def test_mean_field_cross_entropy_uses_the_mean_field_marginals(iterations):
    p = potentials(3)
    expected = marginal_ce(lambda b: mean_field_loop(b, iterations, *p))
    loss = CRFMeanFieldCrossEntropyLoss(iterations=iterations)(inputs(*p))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_mean_field_cross_entropy_approaches_the_exact_one_on_a_weakly_coupled_chain():
    p = potentials(4, coupling=0.05)
    exact = CRFMarginalCrossEntropyLoss()(inputs(*p)).item()
    assert CRFMeanFieldCrossEntropyLoss(iterations=20)(inputs(*p)).item() == pytest.approx(exact, abs=1e-3)


@pytest.mark.parametrize("name", ["crf-marginal-cross-entropy", "crf-mean-field-cross-entropy", "crf-ssvm"])
def test_registered_and_differentiable_in_every_potential(name):
    p = [x.clone().requires_grad_(True) for x in potentials(5)]
    Loss.by_name(name)()(inputs(*p)).backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in p)
    assert p[1].grad.abs().sum() > 0  # the transitions are trained


@pytest.mark.parametrize("loss", [CRFMarginalCrossEntropyLoss(), CRFMeanFieldCrossEntropyLoss(),
                                  CRFStructuredHingeLoss()])
def test_a_factorised_task_net_is_refused_with_a_clear_error(loss):
    labels = SPACE.encode_labels(GOLD, MASK, NUM_TAGS)
    factorised = LossInputs(output_space=SPACE, task_logits=torch.zeros(2, 3, NUM_TAGS), labels=labels, mask=MASK)
    with pytest.raises(ConfigurationError, match="needs a CRF task-net"):
        loss(factorised)
