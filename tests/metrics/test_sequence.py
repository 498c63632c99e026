import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.metrics import TokenAccuracy, WholeSequenceAccuracy


def scores(tags, num_tags=3):
    return torch.nn.functional.one_hot(torch.tensor(tags), num_tags).float()


# Two sequences: "abc" predicted "abb" (2 of 3 right), "ca" (padded to 3) predicted "ca" + garbage.
PREDICTIONS = scores([[0, 1, 1], [2, 0, 1]])
GOLD = torch.tensor([[0, 1, 2], [2, 0, 0]])
MASK = torch.tensor([[True, True, True], [True, True, False]])


def test_token_accuracy_counts_real_positions_over_calls():
    metric = TokenAccuracy()
    metric(PREDICTIONS, GOLD, MASK)
    assert metric.get_metric() == pytest.approx(4 / 5)
    metric(scores([[1, 1, 1]]), torch.tensor([[0, 0, 0]]), None)
    assert metric.get_metric(reset=True) == pytest.approx(4 / 8)
    assert metric.get_metric() == 0.0


def test_whole_sequence_accuracy_ignores_padding_and_empty_sequences():
    metric = WholeSequenceAccuracy()
    empty = torch.zeros(1, 3, dtype=torch.bool)
    metric(
        torch.cat([PREDICTIONS, scores([[0, 0, 0]])]),
        torch.cat([GOLD, torch.tensor([[1, 1, 1]])]),
        torch.cat([MASK, empty]),
    )
    assert metric.get_metric() == pytest.approx(1 / 2)


def test_shapes_are_checked():
    with pytest.raises(ConfigurationError, match="seq_len"):
        TokenAccuracy()(PREDICTIONS[0], GOLD, MASK)
