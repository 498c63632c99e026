import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.score_nets import BoundScore, ScoreNN
from seal.modules.structured_scores import LabelMLPScore, LabelPairwiseScore, StructuredScore
from seal.modules.task_nets import FeedForwardTaskNN, TaskOutput
from tests.modules.stubs import FixedTaskNN, label_vocab

LOCAL_LOGITS = torch.tensor([[1.0, -2.0, 0.5]])


def pairwise(weights):
    score = LabelPairwiseScore(label_vocab(len(weights)))
    with torch.no_grad():
        score.weights.copy_(torch.tensor(weights))
    return score


PAIRWISE_WEIGHTS = [[0.0, 0.5, 0.0], [0.25, 0.0, -1.0], [0.0, 0.0, 0.0]]


def test_local_score_is_sum_of_logits_over_active_labels():
    score_nn = ScoreNN(FixedTaskNN(LOCAL_LOGITS))
    y = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]])
    # <(1, -2, 0.5), y>
    torch.testing.assert_close(score_nn({}, y), torch.tensor([[1.0, -0.5, -0.5, 0.0]]))


def test_score_is_weighted_local_plus_global():
    y = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]])
    local = torch.tensor([[1.0 - 2.0, -2.0 + 0.5, 1.0 - 2.0 + 0.5]])
    # pairwise: {0,1}: 0.5 + 0.25 ; {1,2}: -1 ; {0,1,2}: 0.5 + 0.25 - 1
    global_ = torch.tensor([[0.75, -1.0, -0.25]])
    score_nn = ScoreNN(FixedTaskNN(LOCAL_LOGITS), pairwise(PAIRWISE_WEIGHTS))
    torch.testing.assert_close(score_nn({}, y), local + global_)
    weighted = ScoreNN(FixedTaskNN(LOCAL_LOGITS), pairwise(PAIRWISE_WEIGHTS), local_weight=2.0, global_weight=-3.0)
    torch.testing.assert_close(weighted({}, y), 2.0 * local - 3.0 * global_)


def test_global_score_receives_features():
    torch.manual_seed(0)
    features = torch.randn(2, 4)
    global_score = LabelMLPScore(label_vocab(3), hidden_dim=5, feature_dim=4)
    score_nn = ScoreNN(FixedTaskNN(torch.zeros(2, 3), features=features), global_score)
    y = torch.rand(2, 3, 3)
    torch.testing.assert_close(score_nn({}, y), global_score(y, None, features))


def test_bind_then_call_equals_forward():
    torch.manual_seed(0)
    task_nn = FeedForwardTaskNN.from_params(
        Params({"feedforward": {"input_dim": 5, "num_layers": 1, "hidden_dims": 4, "activations": "tanh"}}),
        vocab=label_vocab(3),
    )
    score_nn = ScoreNN(task_nn, LabelMLPScore(label_vocab(3), hidden_dim=4, feature_dim=4))
    inputs = {"x": torch.randn(2, 5)}
    y = torch.rand(2, 6, 3)
    bound = score_nn.bind(inputs)
    assert isinstance(bound, BoundScore) and bound.mask is None
    torch.testing.assert_close(bound(y), score_nn(inputs, y))
    assert bound(y).shape == (2, 6)


class SumOfSquares(StructuredScore):
    """A global score over (batch, n, T, C) outputs that would see any padded entry of y."""

    def forward(self, y, mask=None, features=None):
        return (y**2).flatten(2).sum(-1)


def test_mask_zeroes_padded_factors():
    torch.manual_seed(0)
    batch, n, T, C = 2, 3, 4, 5
    logits = torch.randn(batch, T, C)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    task_output = TaskOutput(logits, mask, None)
    score_nn = ScoreNN(FixedTaskNN(logits), SumOfSquares())
    y = torch.rand(batch, n, T, C)
    scored = score_nn.score(task_output, y)
    # by hand: only unpadded positions count
    keep = mask[:, None, :, None].float()
    expected = (logits[:, None] * y * keep).sum((2, 3)) + ((y * keep) ** 2).sum((2, 3))
    torch.testing.assert_close(scored, expected)
    # changing padded positions never changes the score
    y_changed = y.clone()
    y_changed[0, :, 3] = torch.rand(n, C) * 10
    y_changed[1, :, 2:] = -7.0
    torch.testing.assert_close(score_nn.score(task_output, y_changed), scored)
    y_changed[0, :, 3] = float("inf")
    y_changed[1, :, 2:] = float("nan")
    torch.testing.assert_close(score_nn.score(task_output, y_changed), scored)


def test_bound_score_mask_is_task_output_mask():
    mask = torch.tensor([[True, False]])
    score_nn = ScoreNN(FixedTaskNN(torch.zeros(1, 2, 3), mask=mask))
    assert torch.equal(score_nn.bind({}).mask, mask)


@pytest.mark.parametrize(
    "y_shape",
    [(2, 4, 4), (2, 4), (3, 4, 3), (2, 4, 3, 1)],
    ids=["wrong-labels", "no-sample-dim", "wrong-batch", "extra-dim"],
)
def test_shape_mismatch_raises(y_shape):
    score_nn = ScoreNN(FixedTaskNN(torch.zeros(2, 3)))
    with pytest.raises(ConfigurationError, match="expected \\(batch, num_samples, \\*label_shape\\)"):
        score_nn({}, torch.rand(*y_shape))


def test_detached_gives_same_values_without_grad_to_features():
    torch.manual_seed(0)
    vocab = label_vocab(3)
    task_nn = FeedForwardTaskNN.from_params(
        Params({"feedforward": {"input_dim": 5, "num_layers": 1, "hidden_dims": 4, "activations": "tanh"}}),
        vocab=vocab,
    )
    score_nn = ScoreNN(task_nn, LabelMLPScore(vocab, hidden_dim=4, feature_dim=4))
    bound = score_nn.bind({"x": torch.randn(2, 5)})
    detached = bound.detached()
    assert all(not t.requires_grad for t in detached.task_output if torch.is_tensor(t))
    y = torch.rand(2, 3, 3, requires_grad=True)
    values = detached(y)
    torch.testing.assert_close(values, bound(y))

    values.sum().backward()
    assert all(p.grad is None for p in score_nn.task_nn.parameters())  # no grad to features/logits
    assert all(p.grad is not None for p in score_nn.global_score.parameters())  # still to the score
    assert y.grad is not None  # and to y (for inference)

    bound(y).sum().backward()  # the bound score itself does reach the feature network
    assert all(p.grad is not None for p in score_nn.task_nn.parameters())


def test_score_nn_builds_from_params_as_default():
    vocab = label_vocab(3)
    score_nn = ScoreNN.from_params(
        Params(
            {
                "task_nn": {
                    "type": "feedforward",
                    "feedforward": {"input_dim": 5, "num_layers": 1, "hidden_dims": 4, "activations": "relu"},
                },
                "global_score": {"type": "label-mlp", "hidden_dim": 7},
                "global_weight": 0.5,
            }
        ),
        vocab=vocab,
    )
    assert type(score_nn) is ScoreNN and score_nn.global_weight == 0.5
    assert score_nn({"x": torch.randn(4, 5)}, torch.rand(4, 2, 3)).shape == (4, 2)
