import itertools

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.structured_scores import (
    LinearChainScore,
    SelfAttentionSequenceScore,
    SkipChainScore,
    StructuredScore,
)

NUM_TAGS = 3


@pytest.fixture
def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b", "c"], "labels")
    return vocab


def _set_random_weights(score, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in score.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return score


def _all_discrete_sequences(seq_len=3):
    """All `NUM_TAGS ** seq_len` one-hot sequences as `(1, n, seq_len, NUM_TAGS)`, with tags."""
    tags = list(itertools.product(range(NUM_TAGS), repeat=seq_len))
    y = torch.zeros(1, len(tags), seq_len, NUM_TAGS)
    for n, sequence in enumerate(tags):
        for i, tag in enumerate(sequence):
            y[0, n, i, tag] = 1.0
    return tags, y


def _relaxed(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(shape, generator=generator), dim=-1)


# ---- skip-chain / linear-chain on discrete y --------------------------------------------------
@pytest.mark.parametrize("order", [1, 2])
def test_skip_chain_equals_brute_force_on_all_discrete_sequences(vocab, order):
    score = _set_random_weights(SkipChainScore(vocab, order=order))
    tags, y = _all_discrete_sequences()
    assert len(tags) == 27
    W = score.weights.detach()
    expected = torch.zeros(1, 27)
    for n, sequence in enumerate(tags):
        for k in range(1, order + 1):
            for i in range(3 - k):
                expected[0, n] += W[k - 1, sequence[i], sequence[i + k]]
    torch.testing.assert_close(score(y, torch.ones(1, 3, dtype=torch.bool)), expected)


def test_linear_chain_equals_brute_force_on_all_discrete_sequences(vocab):
    score = _set_random_weights(LinearChainScore(vocab), seed=1)
    tags, y = _all_discrete_sequences()
    W, start, end = score.transitions.detach(), score.start_scores.detach(), score.end_scores.detach()
    expected = torch.zeros(1, 27)
    for n, sequence in enumerate(tags):
        expected[0, n] = start[sequence[0]] + end[sequence[-1]]
        for i in range(2):
            expected[0, n] += W[sequence[i], sequence[i + 1]]
    torch.testing.assert_close(score(y, torch.ones(1, 3, dtype=torch.bool)), expected)


# ---- skip-chain on relaxed y ------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3])
def test_skip_chain_on_relaxed_y_equals_explicit_loops(vocab, order):
    score = _set_random_weights(SkipChainScore(vocab, order=order), seed=2)
    y = _relaxed((2, 4, 3, NUM_TAGS))
    mask = torch.tensor([[True, True, True], [True, True, False]])
    W = score.weights.detach()
    expected = torch.zeros(2, 4)
    for b in range(2):
        length = int(mask[b].sum())
        for n in range(4):
            for k in range(1, order + 1):
                for i in range(length - k):
                    for s in range(NUM_TAGS):
                        for t in range(NUM_TAGS):
                            expected[b, n] += y[b, n, i, s] * W[k - 1, s, t] * y[b, n, i + k, t]
    torch.testing.assert_close(score(y, mask), expected)


def test_skip_chain_order_2_includes_the_0_2_pair(vocab):
    score = SkipChainScore(vocab, order=2)
    with torch.no_grad():
        score.weights[1, 0, 2] = 5.0  # W_2[a, c]
    y = torch.zeros(1, 2, 3, NUM_TAGS)
    y[0, 0, 0, 0], y[0, 0, 1, 1], y[0, 0, 2, 2] = 1.0, 1.0, 1.0  # a b c: pair (0, 2) is (a, c)
    y[0, 1, 0, 0], y[0, 1, 1, 2], y[0, 1, 2, 1] = 1.0, 1.0, 1.0  # a c b: only adjacent (a, c)
    torch.testing.assert_close(score(y), torch.tensor([[5.0, 0.0]]))
    # order 1 never sees the distance-2 pair
    assert SkipChainScore(vocab, order=1).weights.shape == (1, NUM_TAGS, NUM_TAGS)


def test_skip_chain_weights_start_at_zero_and_are_learned(vocab):
    score = SkipChainScore(vocab, order=2)
    y = _relaxed((2, 3, 4, NUM_TAGS))
    torch.testing.assert_close(score(y), torch.zeros(2, 3))
    score(y).sum().backward()
    assert score.weights.grad is not None and score.weights.grad.abs().sum() > 0


# ---- padding invariance -----------------------------------------------------------------------
def _padding_pair(garbage):
    """A length-2 sequence alone, and the same sequence padded to 3 with `garbage` values."""
    short = _relaxed((1, 2, 2, NUM_TAGS), seed=3)
    padded = torch.cat([short, torch.full((1, 2, 1, NUM_TAGS), garbage)], dim=2)
    return short, torch.ones(1, 2, dtype=torch.bool), padded, torch.tensor([[True, True, False]])


def _all_scores(vocab):
    torch.manual_seed(0)
    return [
        _set_random_weights(SkipChainScore(vocab, order=2), seed=4),
        _set_random_weights(LinearChainScore(vocab), seed=5),
        SelfAttentionSequenceScore(vocab, embedding_dim=8, num_heads=2, feedforward_dim=16).eval(),
    ]


@pytest.mark.parametrize("garbage", [0.7, 1e6, float("nan"), float("inf")])
def test_padding_invariance_for_all_scores(vocab, garbage):
    short, short_mask, padded, padded_mask = _padding_pair(garbage)
    for score in _all_scores(vocab):
        expected = score(short, short_mask)
        actual = score(padded, padded_mask)
        assert torch.isfinite(actual).all(), type(score).__name__
        torch.testing.assert_close(actual, expected, msg=type(score).__name__)


def test_padding_invariance_with_longer_padding_and_mixed_batch(vocab):
    y = _relaxed((2, 3, 5, NUM_TAGS), seed=6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    y_garbage = y.clone()
    y_garbage[1, :, 2:] = 42.0
    for score in _all_scores(vocab):
        reference = score(y, mask)
        torch.testing.assert_close(score(y_garbage, mask), reference)
        torch.testing.assert_close(score(y[1:, :, :2], mask[1:, :2])[0], reference[1])


def test_padding_does_not_receive_gradient(vocab):
    _, _, padded, padded_mask = _padding_pair(0.5)
    for score in _all_scores(vocab):
        y = padded.clone().requires_grad_(True)
        score(y, padded_mask).sum().backward()
        assert torch.isfinite(y.grad).all()
        assert (y.grad[:, :, 2] == 0).all(), type(score).__name__
        assert y.grad[:, :, :2].abs().sum() > 0, type(score).__name__


# ---- linear-chain -----------------------------------------------------------------------------
def test_linear_chain_with_zero_weights_scores_zero(vocab):
    score = LinearChainScore(vocab)
    y = _relaxed((2, 3, 4, NUM_TAGS))
    torch.testing.assert_close(score(y, torch.tensor([[True] * 4, [True, False, False, False]])), torch.zeros(2, 3))


def test_linear_chain_start_end_pick_first_and_last_real_positions(vocab):
    score = LinearChainScore(vocab)
    with torch.no_grad():
        score.start_scores.copy_(torch.tensor([1.0, 10.0, 100.0]))
        score.end_scores.copy_(torch.tensor([1000.0, 10000.0, 100000.0]))
    # tags: row 0 = b a c (length 3), row 1 = c b <pad> (length 2), row 2 = a <pad> <pad>
    y = torch.zeros(3, 1, 3, NUM_TAGS)
    for b, sequence in enumerate([[1, 0, 2], [2, 1, 0], [0, 2, 2]]):
        for i, tag in enumerate(sequence):
            y[b, 0, i, tag] = 1.0
    mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    expected = torch.tensor([[10.0 + 100000.0], [100.0 + 10000.0], [1.0 + 1000.0]])
    torch.testing.assert_close(score(y, mask), expected)
    # an all-padding row scores 0
    torch.testing.assert_close(score(y[:1], torch.zeros(1, 3, dtype=torch.bool)), torch.zeros(1, 1))


def test_linear_chain_without_start_end(vocab):
    score = LinearChainScore(vocab, include_start_end=False)
    assert score.start_scores is None and score.order == 1
    assert [name for name, _ in score.named_parameters()] == ["weights"]


# ---- self-attention ---------------------------------------------------------------------------
def test_self_attention_output_shape_and_one_token_row(vocab):
    torch.manual_seed(0)
    score = SelfAttentionSequenceScore(vocab, embedding_dim=8, num_heads=2, num_layers=2, feedforward_dim=16)
    y = _relaxed((3, 4, 5, NUM_TAGS)).requires_grad_(True)
    mask = torch.tensor([[True] * 5, [True, False, False, False, False], [False] * 5])
    for mode in (score.train, score.eval):
        mode()
        result = score(y, mask)
        assert result.shape == (3, 4)
        assert torch.isfinite(result).all()
        torch.testing.assert_close(result[2], torch.zeros(4))
    with torch.no_grad():  # the inference fast path, too
        assert torch.isfinite(score(y, mask)).all()
    score.train()
    score(y, mask).sum().backward()
    assert torch.isfinite(y.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in score.parameters() if p.grad is not None)


def test_self_attention_empty_sequence(vocab):
    score = SelfAttentionSequenceScore(vocab, embedding_dim=8, feedforward_dim=16)
    y = torch.zeros(2, 3, 0, NUM_TAGS, requires_grad=True)
    result = score(y, torch.zeros(2, 0, dtype=torch.bool))
    torch.testing.assert_close(result, torch.zeros(2, 3))


def test_self_attention_gradcheck(vocab):
    torch.manual_seed(0)
    score = SelfAttentionSequenceScore(vocab, embedding_dim=4, num_heads=2, feedforward_dim=6).double()
    score.eval()
    y = _relaxed((1, 2, 3, NUM_TAGS)).double().requires_grad_(True)
    mask = torch.tensor([[True, True, False]])
    assert torch.autograd.gradcheck(lambda y_: score(y_, mask), (y,))


def test_self_attention_permuting_samples_permutes_scores(vocab):
    torch.manual_seed(0)
    score = SelfAttentionSequenceScore(vocab, embedding_dim=8, feedforward_dim=16).eval()
    y = _relaxed((2, 5, 4, NUM_TAGS))
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    permutation = torch.tensor([3, 0, 4, 2, 1])
    torch.testing.assert_close(score(y[:, permutation], mask), score(y, mask)[:, permutation])


def test_self_attention_couples_distant_positions(vocab):
    torch.manual_seed(0)
    score = SelfAttentionSequenceScore(vocab, embedding_dim=8, feedforward_dim=16).eval()
    # y[0, n] = (tag at 0, b, tag at 2) for tags in {a, c} x {a, c}; a sum of per-position terms
    # would have a zero mixed difference s(a.a) - s(a.c) - s(c.a) + s(c.c).
    y = torch.zeros(1, 4, 3, NUM_TAGS)
    y[0, :, 1, 1] = 1.0
    for n, (first, last) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)]):
        y[0, n, 0, first] = 1.0
        y[0, n, 2, last] = 1.0
    result = score(y)[0]
    assert (result[0] - result[1] - result[2] + result[3]).abs() > 1e-4


def test_self_attention_with_features(vocab):
    torch.manual_seed(0)
    score = SelfAttentionSequenceScore(vocab, embedding_dim=8, feedforward_dim=16, feature_dim=5).eval()
    y = _relaxed((2, 3, 4, NUM_TAGS))
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    features = torch.randn(2, 4, 5)
    result = score(y, mask, features)
    assert result.shape == (2, 3)
    assert not torch.allclose(result, score(y, mask, torch.randn(2, 4, 5)))
    garbage = features.clone()
    garbage[1, 2:] = float("nan")
    torch.testing.assert_close(score(y, mask, garbage), result)
    with pytest.raises(ConfigurationError, match="features"):
        score(y, mask)
    with pytest.raises(ConfigurationError, match="features"):
        score(y, mask, torch.randn(2, 4, 6))


# ---- configuration ----------------------------------------------------------------------------
def test_bad_shapes_raise_configuration_error(vocab):
    for score in _all_scores(vocab):
        with pytest.raises(ConfigurationError, match="y of shape"):
            score(torch.rand(2, 3, NUM_TAGS))  # missing the samples dimension
        with pytest.raises(ConfigurationError, match="y of shape"):
            score(torch.rand(2, 1, 3, NUM_TAGS + 1))  # wrong number of tags
        with pytest.raises(ConfigurationError, match="mask of shape"):
            score(torch.rand(2, 1, 3, NUM_TAGS), torch.ones(2, 4, dtype=torch.bool))
        with pytest.raises(ConfigurationError, match="mask of shape"):
            score(torch.rand(2, 1, 3, NUM_TAGS), torch.ones(2, 1, 3, dtype=torch.bool))


def test_bad_order_raises(vocab):
    for order in (0, -1):
        with pytest.raises(ConfigurationError, match="order"):
            SkipChainScore(vocab, order=order)


def test_sequence_scores_build_from_params(vocab):
    skip = StructuredScore.from_params(Params({"type": "skip-chain", "order": 2}), vocab=vocab)
    assert isinstance(skip, SkipChainScore) and skip.weights.shape == (2, NUM_TAGS, NUM_TAGS)
    chain = StructuredScore.from_params(Params({"type": "linear-chain", "include_start_end": False}), vocab=vocab)
    assert isinstance(chain, LinearChainScore) and chain.start_scores is None
    attention = StructuredScore.from_params(
        Params({"type": "self-attention-full-sequence", "embedding_dim": 8, "num_heads": 2}), vocab=vocab
    )
    assert isinstance(attention, SelfAttentionSequenceScore)
    assert attention(torch.rand(2, 4, 3, NUM_TAGS)).shape == (2, 4)
