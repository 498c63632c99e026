import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.distributions import LinearChainCRF
from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.samplers import DiscreteSampler, SamplingContext, TaskNetSampler
from seal.modules.task_nets import LinearChainCRFTaskNN, TaskNN, TaskOutput
from seal.modules.task_nets.crf import pairwise_norm, unary_norms

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


# ---- scaling of the unary and pairwise potentials (docs/crf.md) -------------------------------
class InputUnary(TaskNN):
    """Returns the batch's `unary` input `(batch, seq_len, num_tags)` and `mask` as its logits."""

    def forward(self, unary, mask, **unused):  # type: ignore[override]
        return TaskOutput(unary, mask, None)


# Two sequences over 2 tags: the first's positions have norms 5 and 10 (root mean square
# sqrt((25 + 100) / 2)); the second's one real position has norm 5, its padding is ignored.
UNARY = torch.tensor([[[3.0, 4.0], [6.0, 8.0]], [[3.0, 4.0], [100.0, 100.0]]])
UNARY_MASK = torch.tensor([[True, True], [True, False]])
UNARY_NORMS = [math.sqrt((25 + 100) / 2), 5.0]
# ||W||^2 = (1 + 4 + 4 + 0) + (16 + 0) + (0 + 0) = 25
TRANSITIONS, START, END = torch.tensor([[1.0, 2.0], [2.0, 0.0]]), torch.tensor([4.0, 0.0]), torch.tensor([0.0, 0.0])


def scaled_crf(**options):
    task_nn = LinearChainCRFTaskNN(vocab(2), InputUnary(), **options)
    with torch.no_grad():
        task_nn.transitions.copy_(TRANSITIONS)
        task_nn.start.copy_(START)
        task_nn.end.copy_(END)
    return task_nn


def test_the_norms_are_the_root_mean_square_over_real_positions_and_the_augmented_frobenius_norm():
    torch.testing.assert_close(unary_norms(UNARY, UNARY_MASK), torch.tensor(UNARY_NORMS))
    torch.testing.assert_close(pairwise_norm(TRANSITIONS, START, END), torch.tensor(5.0))
    torch.testing.assert_close(pairwise_norm(TRANSITIONS), torch.tensor(3.0))


def test_normalise_gives_the_unaries_norm_alpha_and_the_pairwise_potentials_norm_1():
    task_nn = scaled_crf(scaling="normalise", alpha=2.0)
    output = task_nn(unary=UNARY, mask=UNARY_MASK)
    torch.testing.assert_close(unary_norms(output.logits, UNARY_MASK), torch.tensor([2.0, 2.0]))
    # by hand: the second sequence's real position [3, 4] / 5 * 2
    torch.testing.assert_close(output.logits[1, 0], torch.tensor([1.2, 1.6]))
    torch.testing.assert_close(output.logits[0], UNARY[0] * 2 / UNARY_NORMS[0])
    torch.testing.assert_close(output.transitions, torch.tensor([[0.2, 0.4], [0.4, 0.0]]))
    torch.testing.assert_close(output.start, torch.tensor([0.8, 0.0]))
    torch.testing.assert_close(pairwise_norm(output.transitions, output.start, output.end), torch.tensor(1.0))
    # the gradient reaches the raw parameters through the normalisation: d(T01 / ||W||) / dT00 = -T01 T00 / ||W||^3
    output.transitions[0, 1].backward()
    assert task_nn.transitions.grad[0, 0].item() == pytest.approx(-2.0 * 1.0 / 125)


def test_with_scaling_or_regulariser_the_pairwise_potentials_start_as_a_random_unit_direction():
    assert not crf_task_nn().transitions.any()
    for options in ({"scaling": "normalise"}, {"ratio_regularizer": 0.1}):
        task_nn = LinearChainCRFTaskNN(vocab(), Logits(torch.randn(2, 3, NUM_TAGS)), **options)
        assert task_nn.transitions.any()
        torch.testing.assert_close(pairwise_norm(task_nn.transitions, task_nn.start, task_nn.end), torch.tensor(1.0))


def test_the_ratio_regulariser_is_lambda_times_the_squared_distance_of_the_norm_ratio_to_alpha():
    task_nn = scaled_crf(ratio_regularizer=0.5, alpha=2.0)
    output = task_nn(unary=UNARY, mask=UNARY_MASK)
    ratio = (UNARY_NORMS[0] + UNARY_NORMS[1]) / 2 / 5.0
    penalty = task_nn.penalty(output)
    assert penalty.item() == pytest.approx(0.5 * (ratio - 2.0) ** 2, rel=1e-6)
    penalty.backward()
    assert task_nn.transitions.grad is not None and task_nn.transitions.grad.abs().sum() > 0
    assert scaled_crf().penalty(output) is None


def test_the_model_adds_the_penalty_to_the_task_net_step_loss_only():
    from seal.models.variants import CrossEntropyModel

    task_nn = scaled_crf(ratio_regularizer=0.5, alpha=2.0)
    model = CrossEntropyModel(vocab(2), output_space=SequenceTagsOutputSpace(), task_nn=task_nn, label_field="tags")
    batch = {"unary": UNARY, "mask": UNARY_MASK, "tags": torch.tensor([[0, 1], [1, 0]])}
    penalty = task_nn.penalty(task_nn(unary=UNARY, mask=UNARY_MASK)).item()
    model.eval()
    with torch.no_grad():
        validation = model(**batch)["loss"].item()
        step = model(**batch, seal_step="task_nn")["loss"].item()
        assert model.step_objective(batch).item() == pytest.approx(step)
    assert step == pytest.approx(validation + penalty, rel=1e-6)


def test_the_unary_scale_multiplies_the_unaries_and_is_saved_with_the_weights():
    task_nn = scaled_crf(scaling="normalise", alpha=2.0)
    task_nn.unary_scale.fill_(3.0)
    output = task_nn(unary=UNARY, mask=UNARY_MASK)
    torch.testing.assert_close(unary_norms(output.logits, UNARY_MASK), torch.tensor([6.0, 6.0]))
    torch.testing.assert_close(output.transitions, torch.tensor([[0.2, 0.4], [0.4, 0.0]]))  # unscaled
    state = task_nn.state_dict()
    assert state["unary_scale"].item() == 3.0
    restored = scaled_crf()
    restored.load_state_dict(state)
    assert restored.unary_scale.item() == 3.0
    # weights saved before the scale existed load as an unscaled CRF
    del state["unary_scale"]
    restored.load_state_dict(state)
    assert restored.unary_scale.item() == 1.0


def test_the_norm_metrics_are_epoch_means_of_training_batches():
    task_nn = scaled_crf()
    task_nn.eval()
    task_nn(unary=UNARY, mask=UNARY_MASK)
    assert task_nn.get_metrics() == {}  # eval mode records nothing
    task_nn.train()
    task_nn(unary=UNARY, mask=UNARY_MASK)
    task_nn(unary=UNARY[:1], mask=UNARY_MASK[:1])
    metrics = task_nn.get_metrics(reset=True)
    unary = ((UNARY_NORMS[0] + UNARY_NORMS[1]) / 2 + UNARY_NORMS[0]) / 2
    assert metrics == pytest.approx({"unary_norm": unary, "pairwise_norm": 5.0, "norm_ratio": unary / 5.0,
                                     "unary_scale": 1.0})
    assert task_nn.get_metrics() == {}
    # with W = 0 the ratio is infinite: left out
    with torch.no_grad():
        task_nn.transitions.zero_(), task_nn.start.zero_()
    task_nn(unary=UNARY, mask=UNARY_MASK)
    assert task_nn.get_metrics() == pytest.approx({"unary_norm": sum(UNARY_NORMS) / 2, "pairwise_norm": 0.0,
                                                   "unary_scale": 1.0})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scaling": "batch"}, "scaling must be one of"),
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"ratio_regularizer": -1.0}, "ratio_regularizer must be >= 0"),
        ({"scaling": "normalise", "ratio_regularizer": 0.1}, "no effect with scaling 'normalise'"),
    ],
)
def test_bad_scaling_options_are_refused(options, message):
    with pytest.raises(ConfigurationError, match=message):
        LinearChainCRFTaskNN(vocab(), Logits(torch.randn(2, 3, NUM_TAGS)), **options)
