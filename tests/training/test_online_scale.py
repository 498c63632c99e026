"""The online unary scale (`online-unary-scale`, seal/training/online_scale.py): its grid search
picks the scale a hand-computed training objective says, leaves training's random numbers,
metrics and mode alone, and refuses what it cannot work with."""
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.models.variants import CrossEntropyModel
from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.task_nets import LinearChainCRFTaskNN, TaskNN, TaskOutput
from seal.training import OnlineUnaryScale, random_state


class InputUnary(TaskNN):
    """The batch's `unary` input as the unary potentials (every position real)."""

    def forward(self, unary, **unused):  # type: ignore[override]
        return TaskOutput(unary, torch.ones(unary.shape[:2], dtype=torch.bool), None)


def model():
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(["T0", "T1"], "labels")
    crf = LinearChainCRFTaskNN(vocabulary, InputUnary(), include_start_end=False)
    return CrossEntropyModel(vocabulary, output_space=SequenceTagsOutputSpace(), task_nn=crf, label_field="tags")


# One-token sequences over 2 tags, all with unary [2, 0]; gold tag 0 three times out of four.
UNARY = torch.tensor([[[2.0, 0.0]], [[2.0, 0.0]]])
BATCHES = [{"unary": UNARY, "tags": torch.tensor([[0], [0]])}, {"unary": UNARY, "tags": torch.tensor([[0], [1]])}]


def by_hand(scale):
    """The objective at unary scale `s`, by hand: the log-likelihood per token of a one-token CRF is
    the softmax's, -log p(0) = log(1 + e^(-2s)), -log p(1) = log(1 + e^(2s)); the mean over the two
    batches of their means is 3/4 of the first plus 1/4 of the second (minimum at s = ln(3) / 2)."""
    return 0.75 * math.log1p(math.exp(-2 * scale)) + 0.25 * math.log1p(math.exp(2 * scale))


def test_the_search_picks_the_scale_of_the_smallest_hand_computed_objective():
    crf_model = model()
    callback = OnlineUnaryScale("unused", grid=[0.25, 0.5, 1.0, 2.0], num_batches=None)
    expected = {scale: by_hand(scale) for scale in (0.25, 0.5, 1.0, 2.0)}
    assert min(expected, key=expected.get) == 0.5  # 0.5993, 0.5633, 0.6269, 0.8219
    assert callback.choose(crf_model, BATCHES) == 0.5
    assert crf_model.task_nn.unary_scale.item() == 0.5
    assert callback.last_losses == pytest.approx(expected, rel=1e-5)
    # relative grid: the next search is around the new scale
    callback.choose(crf_model, BATCHES)
    assert sorted(callback.last_losses) == [0.125, 0.25, 0.5, 1.0]
    assert crf_model.task_nn.unary_scale.item() == 0.5


def test_num_batches_limits_the_search_to_the_first_batches():
    crf_model = model()
    # the first batch alone (gold 0 only): the objective falls as the scale grows
    assert OnlineUnaryScale("unused", grid=[0.5, 1.0, 2.0], num_batches=1).choose(crf_model, BATCHES) == 2.0


def test_absolute_grid_and_ties_go_to_the_scale_nearest_the_current_one():
    crf_model = model()
    crf_model.task_nn.unary_scale.fill_(2.0)
    callback = OnlineUnaryScale("unused", grid=[0.1, 1.0, 3.0], relative=False)
    # a unary of zeros: every scale gives log 2
    batches = [{"unary": torch.zeros(2, 1, 2), "tags": torch.tensor([[0], [1]])}]
    assert callback.choose(crf_model, batches) == 3.0  # |log(3/2)| < |log(1/2)|
    assert callback.last_losses == pytest.approx({0.1: math.log(2), 1.0: math.log(2), 3.0: math.log(2)})


def test_the_search_leaves_random_numbers_mode_and_training_metrics_alone():
    crf_model = model()
    crf_model.train()
    crf_model(**BATCHES[1], seal_step="task_nn")  # training metrics of one batch
    metrics = crf_model.get_metrics()

    def loader():  # draws random numbers, as a shuffling data loader does
        torch.rand(5)
        yield from BATCHES

    before = random_state.capture()
    OnlineUnaryScale("unused", grid=[0.5, 1.0]).choose(crf_model, loader())
    drawn = torch.rand(3)
    random_state.restore(before)
    assert torch.equal(drawn, torch.rand(3))
    assert crf_model.training
    assert crf_model.get_metrics() == {**metrics, "unary_scale": 0.5}


@pytest.mark.parametrize("options", [{"grid": []}, {"grid": [1.0, -2.0]}, {"num_batches": 0}])
def test_bad_options_are_refused(options):
    with pytest.raises(ConfigurationError):
        OnlineUnaryScale("unused", **options)


def test_a_model_without_a_unary_scale_is_refused():
    from tests.modules.stubs import FixedTaskNN

    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(["T0", "T1"], "labels")
    plain = CrossEntropyModel(vocabulary, output_space=SequenceTagsOutputSpace(),
                              task_nn=FixedTaskNN(torch.zeros(1, 1, 2)), label_field="tags")
    with pytest.raises(ConfigurationError, match="no `unary_scale` buffer"):
        OnlineUnaryScale("unused").choose(plain, BATCHES)


def test_only_the_seal_trainer_runs_it():
    class OtherTrainer:
        model = model()

    with pytest.raises(ConfigurationError, match="needs the 'seal' trainer"):
        OnlineUnaryScale("unused").on_start(OtherTrainer())
