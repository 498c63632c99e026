import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.structured_scores import StructuredScore, SumScore


@pytest.fixture
def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b", "c"], "labels")
    return vocab


def randomised(score, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in score.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return score


def test_sum_is_the_weighted_sum_of_its_parts_and_ignores_padding(vocab):
    params = {"type": "sum", "weights": [1.0, 0.5],
              "scores": [{"type": "linear-chain"}, {"type": "self-attention-full-sequence", "embedding_dim": 8}]}
    torch.manual_seed(0)
    combined = randomised(StructuredScore.from_params(Params(params), vocab=vocab), seed=1).eval()
    chain, attention = combined.scores
    y = torch.softmax(torch.randn(2, 4, 5, 3), dim=-1).requires_grad_()
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    expected = chain(y, mask) + 0.5 * attention(y, mask)
    torch.testing.assert_close(combined(y, mask), expected)
    garbage = torch.where(mask.unsqueeze(1).unsqueeze(-1), y.detach(), torch.full_like(y.detach(), 7.0))
    torch.testing.assert_close(combined(garbage, mask), expected.detach())
    combined(y, mask).sum().backward()
    assert y.grad is not None and all(p.grad is not None for p in chain.parameters())


def test_sum_of_label_set_scores(vocab):
    combined = SumScore([randomised(StructuredScore.by_name("label-pairwise")(vocab), seed=2)] * 2)
    y = torch.rand(2, 3, 3)
    torch.testing.assert_close(combined(y), 2 * combined.scores[0](y))


def test_sum_refuses_bad_arguments(vocab):
    with pytest.raises(ConfigurationError, match="at least one score"):
        SumScore([])
    with pytest.raises(ConfigurationError, match="2 scores but 1 weights"):
        SumScore([StructuredScore.by_name("linear-chain")(vocab)] * 2, weights=[1.0])
