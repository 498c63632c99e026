import pytest
import torch
import torch.nn.functional as F
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.structured_scores import LabelMLPScore, LabelPairwiseScore, StructuredScore


@pytest.fixture
def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b", "c"], "labels")
    return vocab


# ---- label-pairwise ---------------------------------------------------------------------------
def test_pairwise_weights_start_at_zero(vocab):
    score = LabelPairwiseScore(vocab)
    assert score.weights.shape == (3, 3)
    torch.testing.assert_close(score(torch.rand(2, 4, 3)), torch.zeros(2, 4))


def test_pairwise_score_equals_brute_force_double_loop(vocab):
    torch.manual_seed(0)
    score = LabelPairwiseScore(vocab)
    with torch.no_grad():
        score.weights.copy_(torch.randn(3, 3))
    y = torch.rand(2, 5, 3)
    expected = torch.zeros(2, 5)
    for b in range(2):
        for n in range(5):
            for i in range(3):
                for j in range(3):
                    if i != j:
                        expected[b, n] += y[b, n, i] * score.weights[i, j].item() * y[b, n, j]
    torch.testing.assert_close(score(y), expected)


def test_pairwise_ignores_diagonal_and_counts_both_orders_on_discrete_y(vocab):
    score = LabelPairwiseScore(vocab)
    with torch.no_grad():
        score.weights.copy_(torch.tensor([[100.0, 1.0, 2.0], [3.0, 100.0, 4.0], [5.0, 6.0, 100.0]]))
    y = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]])
    # {a,b}: W01 + W10 = 1 + 3 = 4; {a,c}: 2 + 5 = 7; {a,b,c}: 1+2+3+4+5+6 = 21; {b}: 0
    torch.testing.assert_close(score(y), torch.tensor([[4.0, 7.0, 21.0, 0.0]]))


def test_pairwise_gradient_reaches_off_diagonal_weights_only(vocab):
    score = LabelPairwiseScore(vocab)
    score(torch.ones(1, 1, 3)).sum().backward()
    torch.testing.assert_close(score.weights.grad, 1.0 - torch.eye(3))


# ---- label-mlp -------------------------------------------------------------------------------
def test_label_mlp_equals_hand_formula(vocab):
    torch.manual_seed(0)
    score = LabelMLPScore(vocab, hidden_dim=4)
    y = torch.rand(2, 3, 3)
    C = score.label_projection.weight  # (4, 3)
    b = score.label_projection.bias  # (4,)
    w = score.output.weight[0]  # (4,)
    expected = torch.zeros(2, 3)
    for i in range(2):
        for n in range(3):
            expected[i, n] = torch.dot(w, F.softplus(C @ y[i, n] + b))
    assert C.shape == (4, 3) and score.output.bias is None
    torch.testing.assert_close(score(y), expected)


def test_label_mlp_with_known_parameters(vocab):
    score = LabelMLPScore(vocab, hidden_dim=2, activation=torch.nn.ReLU())
    with torch.no_grad():
        score.label_projection.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]]))
        score.label_projection.bias.copy_(torch.tensor([0.5, 1.0]))
        score.output.weight.copy_(torch.tensor([[2.0, -3.0]]))
    y = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    # y=(1,0,1): h = relu(1+3+0.5, -2+1) = (4.5, 0) -> 2*4.5 = 9
    # y=0:       h = relu(0.5, 1) -> 2*0.5 - 3*1 = -2
    torch.testing.assert_close(score(y), torch.tensor([[9.0, -2.0]]))


def test_label_mlp_with_features_equals_hand_formula(vocab):
    torch.manual_seed(1)
    score = LabelMLPScore(vocab, hidden_dim=4, feature_dim=5)
    assert score.label_projection.bias is None  # the feature projection carries the bias
    y = torch.rand(2, 3, 3)
    features = torch.randn(2, 5)
    C = score.label_projection.weight
    D, d = score.feature_projection.weight, score.feature_projection.bias
    w = score.output.weight[0]
    expected = torch.zeros(2, 3)
    for i in range(2):
        for n in range(3):
            expected[i, n] = torch.dot(w, F.softplus(C @ y[i, n] + D @ features[i] + d))
    torch.testing.assert_close(score(y, None, features), expected)


def test_label_mlp_with_features_depends_on_features(vocab):
    torch.manual_seed(2)
    score = LabelMLPScore(vocab, hidden_dim=4, feature_dim=5)
    y = torch.rand(1, 2, 3)
    assert not torch.allclose(score(y, None, torch.randn(1, 5)), score(y, None, torch.randn(1, 5)))


def test_label_mlp_with_feature_dim_but_no_features_raises(vocab):
    score = LabelMLPScore(vocab, hidden_dim=4, feature_dim=5)
    with pytest.raises(ConfigurationError, match="features"):
        score(torch.rand(1, 2, 3))


def test_label_mlp_without_feature_dim_ignores_features(vocab):
    score = LabelMLPScore(vocab, hidden_dim=4)
    y = torch.rand(2, 2, 3)
    torch.testing.assert_close(score(y, None, torch.randn(2, 7)), score(y))


def test_structured_scores_build_from_params(vocab):
    mlp = StructuredScore.from_params(
        Params({"type": "label-mlp", "hidden_dim": 6, "activation": "softplus"}), vocab=vocab
    )
    assert isinstance(mlp, LabelMLPScore) and mlp.label_projection.weight.shape == (6, 3)
    pairwise = StructuredScore.from_params(Params({"type": "label-pairwise"}), vocab=vocab)
    assert isinstance(pairwise, LabelPairwiseScore)
    assert mlp(torch.rand(2, 4, 3)).shape == (2, 4)
