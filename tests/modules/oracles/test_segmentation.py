import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles import HardIoUOracle, OracleValue, SoftIoUOracle

GOLD = torch.tensor([[[1, 1], [0, 0]]])  # foreground: the top row
CANDIDATES = torch.tensor(
    [
        [
            [[1.0, 1.0], [0.0, 0.0]],  # the gold mask
            [[1.0, 0.0], [0.0, 0.0]],  # I = 1, U = 2
            [[1.0, 1.0], [1.0, 1.0]],  # I = 2, U = 4
            [[0.0, 0.0], [1.0, 1.0]],  # the complement: I = 0
            [[0.0, 0.0], [0.0, 0.0]],  # empty: I = 0, U = 2
        ]
    ]
)
DISCRETE_IOU = torch.tensor([[1.0, 0.5, 0.5, 0.0, 0.0]])


def test_registered():
    assert OracleValue.by_name("soft-iou") is SoftIoUOracle
    assert OracleValue.by_name("hard-iou") is HardIoUOracle
    assert OracleValue.from_params(Params({"type": "hard-iou", "threshold": 0.3})).threshold == 0.3


@pytest.mark.parametrize("oracle", [SoftIoUOracle(), HardIoUOracle()])
def test_iou_of_discrete_masks_by_hand(oracle):
    torch.testing.assert_close(oracle(CANDIDATES, GOLD), DISCRETE_IOU)
    torch.testing.assert_close(oracle.task_loss(CANDIDATES, GOLD), 1.0 - DISCRETE_IOU)


@pytest.mark.parametrize("oracle", [SoftIoUOracle(), HardIoUOracle()])
def test_empty_prediction_and_empty_gold_is_one(oracle):
    gold = torch.tensor([[[0, 0], [0, 0]], [[0, 1], [0, 0]]])
    y = torch.zeros(2, 1, 2, 2)
    torch.testing.assert_close(oracle(y, gold), torch.tensor([[1.0], [0.0]]))


def test_soft_iou_of_relaxed_masks_by_hand():
    y = torch.tensor([[[[0.5, 0.25], [0.75, 0.0]]]])
    # min(y, g) = (0.5, 0.25, 0, 0); max(y, g) = (1, 1, 0.75, 0)
    assert SoftIoUOracle()(y, GOLD).item() == pytest.approx(0.75 / 2.75)
    # thresholded: {(0,0), (1,0)} against the top row: I = 1, U = 3
    assert HardIoUOracle()(y, GOLD).item() == pytest.approx(1 / 3)
    assert HardIoUOracle(threshold=0.2)(y, GOLD).item() == pytest.approx(2 / 3)


def test_soft_iou_is_differentiable_and_rises_towards_the_gold():
    y = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64, requires_grad=True)
    SoftIoUOracle()(y, GOLD).sum().backward()
    # more foreground on gold pixels and less elsewhere raises the IoU
    assert (y.grad[0, 0, 0] > 0).all() and (y.grad[0, 0, 1] < 0).all()


@pytest.mark.parametrize("oracle", [SoftIoUOracle(), HardIoUOracle()])
def test_values_lie_in_the_unit_interval(oracle):
    generator = torch.Generator().manual_seed(0)
    y = torch.rand(4, 6, 5, 7, generator=generator)
    gold = (torch.rand(4, 5, 7, generator=generator) < 0.4).long()
    gold[0] = 0
    values = oracle(y, gold)
    assert values.shape == (4, 6) and values.min() >= 0 and values.max() <= 1


@pytest.mark.parametrize("oracle", [SoftIoUOracle(), HardIoUOracle()])
def test_shapes_are_checked(oracle):
    with pytest.raises(ConfigurationError, match="binary masks"):
        oracle(torch.zeros(1, 2, 4), torch.zeros(1, 4))  # label sets
    with pytest.raises(ConfigurationError, match="binary masks"):
        oracle(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 4))
    with pytest.raises(ConfigurationError, match="padding"):
        oracle(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3), torch.ones(1, 3, dtype=torch.bool))


def test_hard_iou_threshold_is_checked():
    with pytest.raises(ConfigurationError, match="threshold"):
        HardIoUOracle(threshold=0.0)
