"""Samplers on tag sequences (`sequence-tags` output space).

Fixture: a batch of two sentences over 3 tags, the second one padded (2 real tokens of 3).  The
task-net logits at real positions are the logs of known probabilities P; the padded position has
huge garbage logits.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from seal.modules.losses import DVNLoss, NCERankingLoss
from seal.modules.oracles import TokenAccuracyOracle
from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.samplers import (
    DiscreteSampler,
    GradientBasedInference,
    GroundTruthSampler,
    MultiSampler,
    SamplingContext,
    TaskNetSampler,
)
from seal.modules.score_nets import ScoreNN
from seal.modules.structured_scores import LinearChainScore
from tests.modules.stubs import FixedTaskNN, label_vocab

SPACE = SequenceTagsOutputSpace()
NUM_TAGS = 3
LENGTHS = [3, 2]
MASK = torch.tensor([[True, True, True], [True, True, False]])
# P[b][i] for the real positions only
P = [
    [[1 / 8, 2 / 8, 5 / 8], [1 / 2, 1 / 4, 1 / 4], [0.1, 0.6, 0.3]],
    [[3 / 5, 1 / 5, 1 / 5], [1 / 4, 1 / 4, 1 / 2]],
]
GOLD = [[2, 0, 1], [0, 2, 1]]  # the last tag of the second sentence is padding


def task_logits():
    logits = torch.empty(2, 3, NUM_TAGS)
    for b, rows in enumerate(P):
        for i, row in enumerate(rows):
            logits[b, i] = torch.tensor([math.log(p) for p in row])
    logits[1, 2] = torch.tensor([1e4, -1e4, 0.0])  # padding: garbage
    return logits


def context(**kwargs):
    return SamplingContext(output_space=SPACE, mask=MASK, **kwargs)


def hand_log_q(tags, b):
    """log q of the tag sequence `tags` for sentence b: sum of log P over its real positions."""
    return sum(math.log(P[b][i][tag]) for i, tag in enumerate(tags[: LENGTHS[b]]))


def check_discrete_and_masked(y):
    """One-hot rows at the real positions, all-zero rows at the padded ones."""
    real = MASK[:, None, :].expand(y.shape[:3])
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(y[real].sum(-1) == 1)
    assert torch.all(y[~real] == 0)


# ---- samplers that draw discrete samples ---------------------------------------------------
# name -> (factory, slice of the discrete samples among the sampler's outputs)
DRAWING_SAMPLERS = {
    "discrete": (lambda n: DiscreteSampler(n), slice(None)),
    "nce-ranking": (lambda n: NCERankingLoss(num_samples=n).sampler, slice(None)),
    "multi": (lambda n: MultiSampler([TaskNetSampler(), DiscreteSampler(n)]), slice(1, None)),
}


@pytest.mark.parametrize("name", sorted(DRAWING_SAMPLERS) + ["dvn-default"])
def test_drawn_samples_are_one_hot_at_real_positions_and_zero_at_padding(name):
    torch.manual_seed(0)
    if name == "dvn-default":  # the task-net output plus 5 discrete samples
        sampler, discrete, num_samples = DVNLoss(oracle=TokenAccuracyOracle()).sampler, slice(1, None), 5
    else:
        factory, discrete = DRAWING_SAMPLERS[name]
        sampler, num_samples = factory(50), 50
    samples = sampler(context(task_logits=task_logits()))
    y = samples.y[:, discrete]
    assert y.shape == (2, num_samples, 3, NUM_TAGS)
    check_discrete_and_masked(y)
    # log q of every sample is the sum of log P at its real positions only
    expected = torch.tensor(
        [[hand_log_q(y[b, n].argmax(-1).tolist(), b) for n in range(num_samples)] for b in range(2)]
    )
    torch.testing.assert_close(samples.log_q[:, discrete], expected)


@pytest.mark.parametrize("name", sorted(DRAWING_SAMPLERS))
def test_empirical_frequencies_match_the_per_position_probabilities(name):
    factory, discrete = DRAWING_SAMPLERS[name]
    num_samples = 20000  # std of a frequency <= 0.0036, the tolerance is > 4 std
    torch.manual_seed(0)
    y = factory(num_samples)(context(task_logits=task_logits())).y[:, discrete]
    for b, rows in enumerate(P):
        for i, row in enumerate(rows):
            torch.testing.assert_close(y[b, :, i].mean(0), torch.tensor(row), atol=0.015, rtol=0)
    # positions are drawn independently: a joint frequency is the product of the marginals
    joint = (y[0, :, 0, 2] * y[0, :, 1, 0]).mean().item()
    assert joint == pytest.approx(5 / 8 * 1 / 2, abs=0.015)


@pytest.mark.parametrize("name", sorted(DRAWING_SAMPLERS))
def test_padded_logits_do_not_change_the_draws_at_real_positions(name):
    factory, discrete = DRAWING_SAMPLERS[name]
    logits = task_logits()
    other = logits.clone()
    other[1, 2] = torch.tensor([-1e4, 0.0, 1e4])
    torch.manual_seed(3)
    first = factory(200)(context(task_logits=logits))
    torch.manual_seed(3)
    second = factory(200)(context(task_logits=other))
    torch.testing.assert_close(first.y, second.y, rtol=0, atol=0)
    torch.testing.assert_close(first.log_q, second.log_q)


# ---- task-net and ground truth ---------------------------------------------------------------
def test_task_net_sampler_returns_probabilities_zero_at_padding():
    samples = TaskNetSampler()(context(task_logits=task_logits()))
    expected = torch.zeros(2, 1, 3, NUM_TAGS)
    for b, rows in enumerate(P):
        expected[b, 0, : len(rows)] = torch.tensor(rows)
    torch.testing.assert_close(samples.y, expected)
    # log q of a relaxed output: minus the cross-entropy, sum_i sum_t P log P over real positions
    entropy = [sum(p * math.log(p) for row in rows for p in row) for rows in P]
    torch.testing.assert_close(samples.log_q, torch.tensor([[entropy[0]], [entropy[1]]]))


@pytest.mark.parametrize("mask_labels", [True, False])
def test_ground_truth_sampler_returns_the_encoded_gold(mask_labels):
    """The gold one-hot rows at real positions, zero rows at padding, even for labels encoded
    without the mask (one-hot at padding too)."""
    labels = SPACE.encode_labels(torch.tensor(GOLD), MASK if mask_labels else None, NUM_TAGS)
    samples = GroundTruthSampler()(context(task_logits=task_logits(), labels=labels))
    expected = torch.tensor(
        [
            [[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]],
            [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]],
        ]
    )
    torch.testing.assert_close(samples.y, expected, rtol=0, atol=0)
    assert samples.y.dtype == torch.get_default_dtype()
    # log q(gold): log(5/8 * 1/2 * 0.6) and log(3/5 * 1/2)
    torch.testing.assert_close(
        samples.log_q, torch.tensor([[math.log(5 / 8 * 1 / 2 * 0.6)], [math.log(3 / 5 * 1 / 2)]])
    )


# ---- gradient-based inference on a linear-chain score ----------------------------------------
def chain_score(num_tags=NUM_TAGS, seq_len=3, seed=0, scale=2.0, local=None, weights=None):
    """A `linear-chain` ScoreNN bound to a batch of 2 with MASK, and its parameters as lists."""
    generator = torch.Generator().manual_seed(seed)
    chain = LinearChainScore(label_vocab(num_tags))
    with torch.no_grad():
        if weights is None:
            for parameter in chain.parameters():
                parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
        else:
            chain.transitions.copy_(weights[0])
            chain.start_scores.copy_(weights[1])
            chain.end_scores.copy_(weights[2])
    if local is None:
        local = torch.randn(2, seq_len, num_tags, generator=generator)
    score = ScoreNN(FixedTaskNN(local, mask=MASK), chain).bind({})
    params = (local.tolist(), chain.transitions.tolist(), chain.start_scores.tolist(), chain.end_scores.tolist())
    return score, params


def hand_chain_score(y, b, params):
    """s(y) of sentence b by explicit loops over its real positions only (y: (seq, tags) list)."""
    local, transitions, start, end = params
    n, tags = LENGTHS[b], range(len(start))
    total = sum(local[b][i][t] * y[i][t] for i in range(n) for t in tags)
    total += sum(y[i][s] * transitions[s][t] * y[i + 1][t] for i in range(n - 1) for s in tags for t in tags)
    total += sum(start[t] * y[0][t] for t in tags) + sum(end[t] * y[n - 1][t] for t in tags)
    return total


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("init", ["uniform", "task-net"])
@pytest.mark.parametrize("method", ["entropic", "projected"])
def test_gbi_on_a_linear_chain_stays_on_the_simplex_and_raises_the_score(method, init, seed):
    score, params = chain_score(seed=seed)
    logits = task_logits()
    gbi = GradientBasedInference(num_steps=20, step_size=0.2, method=method, init=init)
    y = gbi(context(task_logits=logits, score=score)).y
    assert y.shape == (2, 1, 3, NUM_TAGS) and not y.requires_grad
    real = MASK[:, None, :].expand(2, 1, 3)
    assert torch.all(y[~real] == 0)
    assert torch.all(y[real] >= 0)
    torch.testing.assert_close(y[real].sum(-1), torch.ones(int(real.sum())))
    if init == "uniform":
        start = [[[1 / NUM_TAGS] * NUM_TAGS] * length for length in LENGTHS]
    else:
        start = P
    gains = []
    for b in range(2):
        before = hand_chain_score(start[b], b, params)
        after = hand_chain_score(y[b, 0].tolist(), b, params)
        assert after >= before - 1e-5
        gains.append(after - before)
    assert max(gains) > 0.1  # inference does move


def all_sequences(length):
    return [list(tags) for tags in itertools.product(range(NUM_TAGS), repeat=length)]


@pytest.mark.parametrize("method", ["entropic", "projected"])
def test_gbi_reaches_the_best_sequence_of_a_sticky_chain(method):
    """Transitions 2 on the diagonal, start score 3 for tag 1, no local or end score: the best
    sequence is all-1 (score 3 + 2 (n - 1)), found by brute force; GBI from uniform gets there."""
    weights = (2 * torch.eye(NUM_TAGS), torch.tensor([0.0, 3.0, 0.0]), torch.zeros(NUM_TAGS))
    score, params = chain_score(local=torch.zeros(2, 3, NUM_TAGS), weights=weights)
    y = GradientBasedInference(num_steps=60, step_size=0.5, method=method)(context(score=score)).y
    for b, length in enumerate(LENGTHS):
        scores = {
            tuple(tags): hand_chain_score(F.one_hot(torch.tensor(tags), NUM_TAGS).tolist(), b, params)
            for tags in all_sequences(length)
        }
        best = max(scores, key=scores.get)
        assert best == (1,) * length and scores[best] == 3 + 2 * (length - 1)
        assert y[b, 0, :length].argmax(-1).tolist() == list(best)
        assert torch.all(y[b, 0, :length, 1] > 0.9)
        assert hand_chain_score(y[b, 0].tolist(), b, params) > scores[best] - 0.5
    assert torch.all(y[1, 0, 2] == 0)


def test_cost_augmented_gbi_with_token_accuracy_moves_away_from_the_gold():
    """Zero score: the objective is the normalised Hamming cost 1 - sum_i y_i[gold_i] / n, whose
    gradient is -1/n at each gold tag; inference must lower the gold tags' mass below uniform."""
    zeros = (torch.zeros(NUM_TAGS, NUM_TAGS), torch.zeros(NUM_TAGS), torch.zeros(NUM_TAGS))
    score, _ = chain_score(local=torch.zeros(2, 3, NUM_TAGS), weights=zeros)
    labels = SPACE.encode_labels(torch.tensor(GOLD), MASK, NUM_TAGS)
    gbi = GradientBasedInference(num_steps=20, step_size=1.0, cost_augmented=TokenAccuracyOracle())
    y = gbi(context(labels=labels, score=score)).y
    for b, length in enumerate(LENGTHS):
        gold_mass = [y[b, 0, i, GOLD[b][i]].item() for i in range(length)]
        assert all(mass < 0.1 for mass in gold_mass)
        cost = 1 - sum(gold_mass) / length
        assert cost > 1 - 1 / NUM_TAGS + 0.2
    assert torch.all(y[1, 0, 2] == 0)


@pytest.mark.parametrize("method", ["entropic", "projected"])
def test_gbi_keeps_the_start_when_every_step_overshoots(method):
    """Transitions -4 on the diagonal (adjacent tags should differ) and a local 0.1 for tag 0: from
    uniform every position sees the same gradient, and a huge step sends all positions to the same
    tag (score 0.1 n - 4 (n - 1)), then all away from it -- every iterate scores below the uniform
    start (0.1 n / 3 - 4/3 (n - 1)), so the start itself must be returned, zero at padding."""
    weights = (-4 * torch.eye(NUM_TAGS), torch.zeros(NUM_TAGS), torch.zeros(NUM_TAGS))
    local = torch.zeros(2, 3, NUM_TAGS)
    local[..., 0] = 0.1
    score, params = chain_score(local=local, weights=weights)
    y = GradientBasedInference(num_steps=5, step_size=100.0, method=method)(context(score=score)).y
    expected = torch.full((2, 1, 3, NUM_TAGS), 1 / NUM_TAGS)
    expected[1, 0, 2] = 0
    torch.testing.assert_close(y, expected)
    for b, length in enumerate(LENGTHS):
        start_score = 0.1 * length / NUM_TAGS - 4 / 3 * (length - 1)
        assert hand_chain_score(y[b, 0].tolist(), b, params) == pytest.approx(start_score, abs=1e-5)
