import torch

from seal.modules.oracles import OracleValue, SpanF1Oracle, TokenAccuracyOracle
from tests.modules.output_spaces.test_sequence import bio_vocab


def one_hot(tags, num_tags=4):
    return torch.nn.functional.one_hot(torch.tensor(tags), num_tags).float()


def test_token_accuracy_of_discrete_and_relaxed_sequences():
    oracle = OracleValue.by_name("token-accuracy")()
    gold = one_hot([[1, 2, 0]])
    gold[0, 2] = 0  # padded position of the encoded labels
    mask = torch.tensor([[True, True, False]])
    relaxed = torch.tensor([[0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    y = torch.stack([one_hot([1, 2, 3]), one_hot([1, 0, 0]), relaxed]).unsqueeze(0)
    torch.testing.assert_close(oracle(y, gold, mask), torch.tensor([[1.0, 0.5, (0.5 + 0.25) / 2]]))
    torch.testing.assert_close(oracle.task_loss(y, gold, mask), torch.tensor([[0.0, 0.5, 0.625]]))
    assert isinstance(oracle, TokenAccuracyOracle)


def test_span_f1_of_sampled_sequences():
    oracle = SpanF1Oracle(bio_vocab(), label_encoding="BIO")
    # tags: 0 O, 1 B-PER, 2 I-PER, 3 B-LOC ; gold B-PER I-PER O B-LOC (+1 padding)
    gold = one_hot([[1, 2, 0, 3, 0]])
    mask = torch.tensor([[True, True, True, True, False]])
    samples = torch.stack(
        [
            one_hot([1, 2, 0, 3, 3]),  # both spans (padding ignored) -> 1
            one_hot([1, 0, 0, 3, 0]),  # B-PER alone is a wrong span, LOC right -> 2*1/(2+2)
            one_hot([0, 0, 0, 0, 0]),  # no span -> 0
        ]
    ).unsqueeze(0)
    torch.testing.assert_close(oracle(samples, gold, mask), torch.tensor([[1.0, 0.5, 0.0]]))
    nothing = one_hot([[0, 0, 0, 0, 0]])
    torch.testing.assert_close(oracle(nothing.unsqueeze(1), nothing, mask), torch.tensor([[1.0]]))
