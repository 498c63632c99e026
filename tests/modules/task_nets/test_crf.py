import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.distributions import LinearChainCRF
from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.samplers import DiscreteSampler, SamplingContext, TaskNetSampler
from seal.modules.task_nets import LinearChainCRFTaskNN, TaskNN, TaskOutput

NUM_TAGS = 3
MASK = torch.tensor([[True, True, True], [True, True, False]])


class Logits(TaskNN):
    """Returns fixed logits and mask, whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, **inputs):
        return TaskOutput(self.logits, MASK, None)


def vocab(num_tags=NUM_TAGS):
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace([f"T{i}" for i in range(num_tags)], "labels")
    return vocabulary


def crf_task_nn(include_start_end=True):
    return LinearChainCRFTaskNN(vocab(), Logits(torch.randn(2, 3, NUM_TAGS)), include_start_end=include_start_end)


def test_registered():
    assert TaskNN.by_name("linear-chain-crf") is LinearChainCRFTaskNN


def test_returns_the_unaries_with_learned_pairwise_potentials_starting_at_zero():
    task_nn = crf_task_nn()
    output = task_nn()
    assert output.logits is task_nn.unary.logits and output.mask is MASK
    assert output.transitions is task_nn.transitions and output.transitions.shape == (NUM_TAGS, NUM_TAGS)
    assert output.start.shape == output.end.shape == (NUM_TAGS,)
    assert not output.transitions.any()
    assert {name for name, _ in task_nn.named_parameters()} >= {"transitions", "start", "end"}
    assert crf_task_nn(include_start_end=False)().start is None


def test_the_sequence_space_reads_it_as_a_crf_and_samplers_draw_from_it():
    task_nn = crf_task_nn()
    with torch.no_grad():
        task_nn.transitions.copy_(torch.tensor([[4.0, -4.0, 0.0], [0.0, 1.0, -2.0], [-3.0, 2.0, 0.5]]))
    output = task_nn()
    space = SequenceTagsOutputSpace()
    distribution = space.distribution(output)
    assert isinstance(distribution, LinearChainCRF)
    context = SamplingContext(space, task_logits=output.logits, mask=MASK,
                              task_transitions=(output.transitions, output.start, output.end))
    samples = DiscreteSampler(num_samples=4)(context)
    torch.testing.assert_close(samples.log_q, distribution.log_prob(samples.y))
    relaxed = TaskNetSampler()(context)
    torch.testing.assert_close(relaxed.y[:, 0], distribution.marginals())


def test_unaries_of_the_wrong_shape_are_refused():
    task_nn = LinearChainCRFTaskNN(vocab(NUM_TAGS + 1), Logits(torch.randn(2, 3, NUM_TAGS)))
    with pytest.raises(ConfigurationError, match="unary task-net must return logits"):
        task_nn()


def test_its_prediction_is_the_viterbi_sequence_not_the_marginals_argmax():
    space = SequenceTagsOutputSpace()
    unary = torch.tensor([[[1.0, 0.9, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]] * 2)
    transitions = torch.tensor([[0.0, -5.0, -5.0], [-5.0, 3.0, -5.0], [-5.0, -5.0, 0.0]])
    output = TaskOutput(unary, MASK, None, transitions)
    distribution = space.distribution(output)
    prediction = space.prediction(distribution)
    torch.testing.assert_close(prediction, distribution.argmax())
    assert prediction[0].argmax(-1).tolist() == [1, 1, 1]  # tag 1 pays for itself along the chain
    assert space.prediction(space.distribution(TaskOutput(unary, MASK))) is None  # decoded from marginals


def test_the_multi_label_space_refuses_pairwise_potentials():
    from seal.modules.output_spaces import MultiLabelOutputSpace

    with pytest.raises(ConfigurationError, match="no pairwise potentials"):
        MultiLabelOutputSpace().distribution(TaskOutput(torch.zeros(2, 3), None, None, torch.zeros(3, 3)))
