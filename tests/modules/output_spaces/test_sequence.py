import itertools
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.output_spaces import OutputSpace, SequenceTagsOutputSpace, project_onto_simplex

# One sequence of 3 positions (the last one padding) over 3 tags.
LOGITS = torch.tensor([[[0.0, math.log(2.0), math.log(5.0)], [1.0, 1.0, 1.0], [9.0, -9.0, 3.0]]])
MASK = torch.tensor([[True, True, False]])
P = torch.tensor([[[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]]])  # softmax at the real positions


@pytest.fixture
def space():
    return SequenceTagsOutputSpace()


def one_hot(tags, num_tags=3):
    return torch.nn.functional.one_hot(torch.tensor(tags), num_tags).float()


def test_registered():
    assert OutputSpace.by_name("sequence-tags") is SequenceTagsOutputSpace


def test_probabilities_are_a_softmax_per_position(space):
    torch.testing.assert_close(space.probabilities(LOGITS)[:, :2], P)


def test_log_probability_sums_real_positions_only(space):
    y = torch.stack([one_hot([2, 0, 1]), one_hot([1, 2, 0])]).unsqueeze(0)  # (1, 2, 3, 3)
    expected = torch.tensor([[math.log(5 / 8) + math.log(1 / 3), math.log(2 / 8) + math.log(1 / 3)]])
    torch.testing.assert_close(space.log_probability(LOGITS, y, MASK), expected)
    # the padded position's logits and y never matter
    other = LOGITS.clone()
    other[0, 2] = torch.tensor([-50.0, 50.0, 0.0])
    torch.testing.assert_close(space.log_probability(other, y, MASK), expected)


def test_log_probabilities_of_all_sequences_sum_to_one(space):
    mask = torch.ones(1, 3, dtype=torch.bool)
    ys = torch.stack([one_hot(list(tags)) for tags in itertools.product(range(3), repeat=3)]).unsqueeze(0)
    total = space.log_probability(LOGITS, ys, mask).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0))


def test_samples_are_one_hot_masked_and_follow_the_distribution(space):
    torch.manual_seed(0)
    samples = space.sample(space.probabilities(LOGITS), 20000, MASK)
    assert samples.shape == (1, 20000, 3, 3)
    assert torch.all(samples[:, :, :2].sum(-1) == 1)
    assert torch.all(samples[:, :, 2] == 0)
    frequencies = samples[0, :, :2].mean(0)
    torch.testing.assert_close(frequencies, P[0], atol=0.015, rtol=0)


def test_projection_onto_the_simplex_known_points():
    points = torch.tensor([[0.5, 0.5, 0.5], [2.0, 0.0, 0.0], [0.6, 0.6, -1.0], [0.2, 0.3, 0.5]])
    expected = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    torch.testing.assert_close(project_onto_simplex(points), expected)


def test_projection_is_the_closest_point_of_the_simplex():
    torch.manual_seed(0)
    point = torch.randn(5) * 2
    projected = project_onto_simplex(point)
    assert projected.min() >= 0 and projected.sum().item() == pytest.approx(1.0, abs=1e-6)
    candidates = torch.distributions.Dirichlet(torch.ones(5)).sample((5000,))
    assert torch.linalg.vector_norm(point - projected) <= torch.linalg.vector_norm(point - candidates, dim=-1).min()


@pytest.mark.parametrize("method", ["projected", "entropic"])
def test_ascent_steps_stay_in_the_simplex_and_raise_a_linear_objective(space, method):
    y = torch.full((1, 1, 2, 3), 1 / 3)
    gradient = torch.tensor([[[[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]]]])
    stepped = space.ascent_step(y, gradient, 0.1, method)
    torch.testing.assert_close(stepped.sum(-1), torch.ones(1, 1, 2))
    assert stepped.min() >= 0
    assert (stepped * gradient).sum() > (y * gradient).sum()
    with pytest.raises(ConfigurationError):
        space.ascent_step(y, gradient, 0.1, "newton")


def test_decode_encode_and_decisions(space):
    probabilities = space.probabilities(LOGITS)
    expected = torch.stack([one_hot([2, 0, 0]) * torch.tensor([[1.0], [1.0], [0.0]])])
    torch.testing.assert_close(space.decode(probabilities, MASK), expected)
    labels = torch.tensor([[2, 1, 0]])  # index 0 at the padded position is SequenceLabelField padding
    encoded = space.encode_labels(labels, MASK, 3)
    torch.testing.assert_close(encoded, torch.stack([torch.stack([one_hot(2), one_hot(1), torch.zeros(3)])]))
    assert space.num_decisions(MASK, encoded).tolist() == [2]
    uniform = space.uniform(torch.zeros(1, 1, 2, 4))
    torch.testing.assert_close(uniform, torch.full((1, 1, 2, 4), 0.25))
    with pytest.raises(ConfigurationError, match="tag indices"):
        space.encode_labels(encoded, MASK, 3)


def bio_vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["O", "B-PER", "I-PER", "B-LOC"], "labels")
    return vocab


def test_span_metrics_and_readable_spans():
    space = SequenceTagsOutputSpace(label_encoding="BIO")
    vocab = bio_vocab()
    # predicted: B-PER I-PER O B-LOC ; gold: B-PER I-PER O B-PER (one of two spans right)
    predicted = one_hot([1, 2, 0, 3], 4).unsqueeze(0)
    gold = space.encode_labels(torch.tensor([[1, 2, 0, 1]]), None, 4)
    metrics = space.default_metrics(vocab)
    space.update_metrics(metrics, predicted, gold)
    values = metrics["span_f1"].get_metric()
    assert values["precision-overall"] == pytest.approx(0.5)
    assert values["recall-overall"] == pytest.approx(0.5)
    assert values["f1-measure-overall"] == pytest.approx(0.5)
    assert values["f1-measure-PER"] == pytest.approx(2 / 3)
    mask = torch.tensor([[True, True, True, False]])
    readable = space.human_readable(predicted, vocab, mask)
    assert readable[0]["tags"] == ["B-PER", "I-PER", "O"]
    assert readable[0]["spans"] == [{"label": "PER", "start": 0, "end": 1}]


def test_illegal_bioul_predictions_are_scored_not_rejected():
    space = SequenceTagsOutputSpace(label_encoding="BIOUL")
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["O", "U-PER", "L-PER", "B-PER"], "labels")
    # predicted L-PER U-PER (illegal: L without B) reads as two single-token PER spans
    predicted = one_hot([2, 1], 4).unsqueeze(0)
    gold = space.encode_labels(torch.tensor([[1, 1]]), None, 4)  # U-PER U-PER
    metrics = space.default_metrics(vocab)
    space.update_metrics(metrics, predicted, gold)
    assert metrics["span_f1"].get_metric()["f1-measure-overall"] == pytest.approx(1.0)
    spans = space.human_readable(predicted, vocab)[0]["spans"]
    assert spans == [{"label": "PER", "start": 0, "end": 0}, {"label": "PER", "start": 1, "end": 1}]


def test_plain_sequences_report_token_and_sequence_accuracy():
    space = SequenceTagsOutputSpace()
    metrics = space.default_metrics(bio_vocab())
    predicted = torch.stack([one_hot([1, 2, 0], 4), one_hot([1, 1, 1], 4)])
    gold = space.encode_labels(torch.tensor([[1, 2, 3], [1, 1, 0]]), torch.tensor([[1, 1, 0], [1, 1, 0]]).bool(), 4)
    space.update_metrics(metrics, predicted, gold, torch.tensor([[1, 1, 0], [1, 1, 0]]).bool())
    assert metrics["accuracy"].get_metric() == pytest.approx(1.0)
    assert metrics["sequence_accuracy"].get_metric() == pytest.approx(1.0)


def test_unknown_encoding_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="label_encoding"):
        SequenceTagsOutputSpace(label_encoding="BILOU")


def test_constrained_decoding_predicts_legal_bio_for_metrics_and_output():
    space = SequenceTagsOutputSpace(label_encoding="BIO", constrained_decoding=True)
    vocab = bio_vocab()  # O, B-PER, I-PER, B-LOC
    space.index_labels(vocab)
    # argmax: O I-PER (illegal).  Legal: O O = .6*.3, B-PER I-PER = .4*.7 (best), B-PER O = .4*.3
    probabilities = torch.tensor([[[0.6, 0.4, 0.0, 0.0], [0.3, 0.0, 0.7, 0.0]]])
    assert space.decode(probabilities).argmax(-1).tolist() == [[1, 2]]
    readable = space.human_readable(probabilities, vocab)[0]
    assert readable["tags"] == ["B-PER", "I-PER"]
    assert readable["tag_probabilities"] == [pytest.approx(0.4), pytest.approx(0.7)]
    metrics = space.default_metrics(vocab)
    space.update_metrics(metrics, probabilities, space.encode_labels(torch.tensor([[1, 2]]), None, 4))
    assert metrics["span_f1"].get_metric()["f1-measure-overall"] == pytest.approx(1.0)


def test_constrained_decoding_options_are_checked():
    with pytest.raises(ConfigurationError, match="label_encoding"):
        SequenceTagsOutputSpace(constrained_decoding=True)
    with pytest.raises(ConfigurationError, match="index_labels"):
        SequenceTagsOutputSpace(label_encoding="BIO", constrained_decoding=True).decode(torch.ones(1, 2, 4) / 4)
    with pytest.raises(ConfigurationError, match="span_metric"):
        SequenceTagsOutputSpace(label_encoding="BIO", span_metric="conll")
    with pytest.raises(ConfigurationError, match="'BIO'"):
        SequenceTagsOutputSpace(label_encoding="BIOUL", span_metric="srl-eval")
