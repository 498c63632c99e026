import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles import F1Oracle, HammingOracle, OracleValue

GOLD = torch.tensor([[1, 0, 1, 0]])  # G = {0, 2}
CANDIDATES = torch.tensor(
    [
        [
            [1.0, 0.0, 1.0, 0.0],  # Y = G
            [1.0, 1.0, 0.0, 0.0],  # Y = {0, 1}
            [0.0, 0.0, 0.0, 0.0],  # Y = {}
            [0.0, 1.0, 0.0, 1.0],  # Y = complement of G
            [1.0, 1.0, 1.0, 1.0],  # Y = all
        ]
    ]
)


def test_oracles_are_registered():
    assert OracleValue.by_name("f1") is F1Oracle
    assert OracleValue.by_name("hamming") is HammingOracle


def test_f1_on_discrete_sets():
    # F1 = 2 |Y & G| / (|Y| + |G|)
    expected = torch.tensor(
        [[2 * 2 / (2 + 2), 2 * 1 / (2 + 2), 0 / (0 + 2), 0 / (2 + 2), 2 * 2 / (4 + 2)]]
    )
    torch.testing.assert_close(F1Oracle()(CANDIDATES, GOLD), expected)


def test_hamming_on_discrete_sets():
    # fraction of the 4 labels where Y and G agree
    expected = torch.tensor([[4 / 4, 2 / 4, 2 / 4, 0 / 4, 2 / 4]])
    torch.testing.assert_close(HammingOracle()(CANDIDATES, GOLD), expected)


def test_f1_of_empty_prediction_and_empty_gold_is_one():
    y = torch.zeros(2, 1, 3)
    gold = torch.tensor([[0, 0, 0], [0, 1, 0]])
    # instance 0: empty/empty -> 1 ; instance 1: empty/{1} -> 0
    torch.testing.assert_close(F1Oracle()(y, gold), torch.tensor([[1.0], [0.0]]))


def test_f1_of_nonempty_prediction_and_empty_gold_is_zero():
    torch.testing.assert_close(F1Oracle()(torch.tensor([[[0.0, 1.0]]]), torch.tensor([[0, 0]])), torch.tensor([[0.0]]))


def test_relaxed_values_by_hand():
    y = torch.tensor([[[0.5, 0.5, 0.25]]])
    gold = torch.tensor([[1, 0, 0]])
    # F1: 2 * 0.5 / (1.25 + 1) = 1 / 2.25 ; Hamming: (0.5 + 0.5 + 0.75) / 3
    assert F1Oracle()(y, gold).item() == pytest.approx(1 / 2.25)
    assert HammingOracle()(y, gold).item() == pytest.approx(1.75 / 3)


@pytest.mark.parametrize("oracle", [F1Oracle(), HammingOracle()])
def test_relaxed_values_lie_in_unit_interval(oracle):
    torch.manual_seed(0)
    y = torch.rand(16, 8, 5)
    gold = torch.bernoulli(torch.full((16, 5), 0.4)).long()
    gold[0] = 0  # include an empty gold set
    values = oracle(y, gold)
    assert values.shape == (16, 8)
    assert values.min() >= 0.0 and values.max() <= 1.0


@pytest.mark.parametrize("oracle", [F1Oracle(), HammingOracle()])
def test_gold_output_has_value_one(oracle):
    gold = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    torch.testing.assert_close(oracle(gold.unsqueeze(1).float(), gold), torch.ones(3, 1))


@pytest.mark.parametrize("oracle", [F1Oracle(), HammingOracle()])
def test_task_loss_is_one_minus_value(oracle):
    torch.manual_seed(1)
    y = torch.rand(4, 3, 5)
    gold = torch.bernoulli(torch.full((4, 5), 0.5))
    torch.testing.assert_close(oracle.task_loss(y, gold), 1.0 - oracle(y, gold))


def test_f1_task_loss_by_hand():
    # Y = {0, 1}, G = {0, 2}: F1 = 1/2, loss = 1/2
    torch.testing.assert_close(F1Oracle().task_loss(CANDIDATES[:, 1:2], GOLD), torch.tensor([[0.5]]))


@pytest.mark.parametrize("oracle", [F1Oracle(), HammingOracle()])
def test_relaxed_oracles_are_differentiable(oracle):
    y = torch.full((1, 1, 3), 0.5, requires_grad=True)
    oracle(y, torch.tensor([[1, 0, 1]])).sum().backward()
    # raising a gold label's value increases the oracle, raising a non-gold one decreases it
    assert y.grad[0, 0, 0] > 0 and y.grad[0, 0, 2] > 0 and y.grad[0, 0, 1] < 0


@pytest.mark.parametrize("oracle", [F1Oracle(), HammingOracle()])
def test_label_set_oracles_reject_tag_sequences(oracle):
    y = torch.zeros(2, 3, 4, 5)  # (batch, samples, seq_len, tags): not a label set
    with pytest.raises(ConfigurationError, match="token-accuracy"):
        oracle(y, torch.zeros(2, 4, 5))
