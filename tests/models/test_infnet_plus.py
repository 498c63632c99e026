"""The `infnet-plus` model (Tu, Pang & Gimpel, 2020): its three step objectives against values
computed by hand on a tiny example, the parameters each step of the `seal` trainer updates, the
network shared by the two inference networks, prediction by the test-time network, the
configuration errors, and a fixture run that trains, evaluates and predicts."""
import json
import math
from collections import Counter

import _jsonnet
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from allennlp.training import Trainer

from seal.data import ArffDatasetReader
from seal.models import InferenceNetworkPlus
from seal.modules.losses import CrossEntropyLoss, EnergyLoss, MarginLoss, WeightedSumLoss
from seal.training import SealTrainer
from tests.models.test_variants import BATCH, NUM_LABELS, batch, score_nn, task_nn, vocab
from tests.training import test_trainer
from tests.training.test_trainer import BATCH_SIZE, changed, first_batch, snapshot
from tests.util import FIXTURE_CONFIGS, SCENE_LABELS, SCENE_SMALL, evaluate_in_process, read_json, train_in_process

CONFIG = FIXTURE_CONFIGS / "scene_small_infnet_plus.jsonnet"
STEPS = ["score_nn", "task_nn", "cost_augmented_nn"]
data = test_trainer.data  # the 40 scene_small training rows and their vocabulary


def build(**extra) -> InferenceNetworkPlus:
    config = {"type": "infnet-plus", "task_nn": task_nn(), "score_nn": score_nn(), **extra}
    return Model.from_params(vocab=vocab(), params=Params(config))


# ---- construction ----------------------------------------------------------------------------
def test_defaults_steps_and_losses():
    model = build()
    assert type(model) is InferenceNetworkPlus
    assert model.step_names() == ("score_nn", "task_nn", "cost_augmented_nn")
    assert model.active_steps(0) == STEPS and model.active_steps(50) == STEPS
    assert isinstance(model.score_nn_loss, MarginLoss) and not model.score_nn_loss.perceptron
    assert isinstance(model.perceptron_loss, MarginLoss) and model.perceptron_loss.perceptron
    assert model.perceptron_weight == 1.0
    for loss, energy_weight, cost_augmented in ((model.task_nn_loss, 1.0, False),
                                                (model.cost_augmented_loss, 1.0, True)):
        assert isinstance(loss, WeightedSumLoss) and loss.anchor is None  # no guard by default
        assert [type(term) for term in loss.losses] == [EnergyLoss, CrossEntropyLoss]
        assert loss.weights == [energy_weight, 1.0]
        assert (loss.losses[0].cost_augmented is not None) == cost_augmented
    assert model.step_loss("cost_augmented_nn") is model.cost_augmented_loss
    assert model.inference is None


def test_guard_anchors_both_inference_networks_on_cross_entropy():
    model = build(guard=True, guard_epochs=4, perceptron_weight=0.5, cross_entropy_weight=2.0)
    for loss in (model.task_nn_loss, model.cost_augmented_loss):
        assert (loss.anchor, loss.anchor_epochs) == (1, 4)
    assert model.task_nn_loss.weights == [0.5, 2.0] and model.cost_augmented_loss.weights == [1.0, 2.0]


def test_the_inference_networks_share_all_but_the_output_layer():
    torch.manual_seed(0)
    model = build()
    own = dict(model.cost_augmented_nn.named_parameters())
    for name, parameter in model.task_nn.named_parameters():
        assert (own[name] is parameter) == (not name.startswith("label_layer.")), name
    assert model.cost_augmented_nn.feedforward is model.task_nn.feedforward  # the module itself
    assert not torch.equal(own["label_layer.weight"], model.task_nn.label_layer.weight)  # drawn anew
    names = [name for name, _ in model.named_parameters()]  # each parameter once, under task_nn
    assert [n for n in names if n.startswith("cost_augmented_nn.")] == ["cost_augmented_nn.label_layer.weight",
                                                                        "cost_augmented_nn.label_layer.bias"]


def test_cost_augmented_head_chooses_what_is_not_shared():
    separate = build(cost_augmented_head=[".*"])
    own = dict(separate.cost_augmented_nn.named_parameters())
    assert all(own[name] is not p for name, p in separate.task_nn.named_parameters())
    feature_head = build(cost_augmented_head=["^feedforward"])
    own = dict(feature_head.cost_augmented_nn.named_parameters())
    assert own["label_layer.weight"] is feature_head.task_nn.label_layer.weight
    assert own["feedforward._linear_layers.0.weight"] is not feature_head.task_nn.feedforward._linear_layers[0].weight


# ---- the objective, by hand --------------------------------------------------------------------
LAMBDA, TAU = 0.5, 0.5


def hand_model(**extra) -> InferenceNetworkPlus:
    """A local-only energy `s(x, y) = <b, y>` with `b = (1, -1, 2)`, `A`'s relaxed output 0.5 for
    every label and `F`'s `(3/4, 1/4, 1/2)`, whatever `x`: zero output weights, chosen biases."""
    settings = {"perceptron_weight": LAMBDA, "cross_entropy_weight": TAU, **extra}
    model = build(score_nn={"task_nn": task_nn()}, **settings)
    with torch.no_grad():
        for layer, bias in ((model.score_nn.task_nn.label_layer, [1.0, -1.0, 2.0]),
                            (model.cost_augmented_nn.label_layer, [0.0, 0.0, 0.0]),
                            (model.task_nn.label_layer, [math.log(3), -math.log(3), 0.0])):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias))
    model.train()
    return model


def hand_batch():
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(1))
    return x, torch.tensor([[1, 0, 1], [0, 1, 0]])


# Scores: s(y1) = 1 + 2 = 3, s(y2) = -1, s(A) = (1 - 1 + 2) / 2 = 1, s(F) = 3/4 - 1/4 + 1/2 = 3/2.
# F1 of A: 2 (1/2 + 1/2) / (3/2 + 2) = 4/7 and 2 (1/2) / (3/2 + 1) = 2/5, so Delta = 3/7 and 3/5.
# Hinge: [3/7 - 3 + 1]_+ = 0 and [3/5 + 1 + 1]_+ = 13/5.  Perceptron: [3/2 - 3]_+ = 0, [3/2 + 1]_+ = 5/2.
ENERGY_LOSS = (0 + 13 / 5) / 2 + LAMBDA * (0 + 5 / 2) / 2
# A: -(mean Delta + s(A)) + tau * CE(A), each label's CE log 2.
COST_AUGMENTED_LOSS = -((3 / 7 + 3 / 5) / 2 + 1) + TAU * math.log(2)
# F: lambda * -s(F) + tau * CE(F): per-label -log 3/4, -log 3/4, -log 1/2 and -log 1/4, -log 1/4, -log 1/2.
F_CROSS_ENTROPY = (2 * math.log(4 / 3) + math.log(2) + 2 * math.log(4) + math.log(2)) / 6
TEST_TIME_LOSS = -LAMBDA * 3 / 2 + TAU * F_CROSS_ENTROPY


@pytest.mark.parametrize("guard", [False, True])
def test_each_step_objective_against_hand_computed_values(guard):
    model = hand_model(guard=guard)  # the guard changes gradients, never values
    x, labels = hand_batch()
    losses = {step: model(x=x, labels=labels, seal_step=step)["loss"].item() for step in STEPS}
    assert losses["score_nn"] == pytest.approx(ENERGY_LOSS)
    assert losses["cost_augmented_nn"] == pytest.approx(COST_AUGMENTED_LOSS)
    assert losses["task_nn"] == pytest.approx(TEST_TIME_LOSS)
    model.eval()
    output = model(x=x, labels=labels)  # the validation loss is F's
    assert output["loss"].item() == pytest.approx(TEST_TIME_LOSS)
    torch.testing.assert_close(output["probabilities"], torch.tensor([[0.75, 0.25, 0.5]] * 2))


def test_the_inference_networks_keep_their_gradient_where_the_hinge_is_zero():
    """Example 1's hinge and perceptron terms are 0 (truncated), so the energy gets nothing from
    it; without cross-entropy the inference networks still get its energy's gradient: their
    objectives have no truncation."""
    model = hand_model(cross_entropy_weight=0.0)
    x, labels = hand_batch()
    first = {"x": x[:1], "labels": labels[:1]}
    assert model(**first, seal_step="score_nn")["loss"].item() == 0.0
    for step in ("cost_augmented_nn", "task_nn"):
        model.zero_grad(set_to_none=True)
        model(**first, seal_step=step)["loss"].backward()
        assert getattr(model, step).label_layer.bias.grad.abs().sum() > 0, step


# ---- which parameters each step of the trainer updates ------------------------------------------
@pytest.fixture
def trainer_of(data, tmp_path):
    """trainer_of(config_dict=None) -> the `seal` trainer of the fixture config (no callbacks), on
    the 40 training rows in batches of 8, unshuffled."""
    instances, vocabulary = data

    def _build(config=None) -> SealTrainer:
        params = config or json.loads(_jsonnet.evaluate_file(str(CONFIG)))
        params["trainer"]["callbacks"] = []
        params = Params(params)
        torch.manual_seed(0)
        model = Model.from_params(vocab=vocabulary, params=params.pop("model"))
        loader = SimpleDataLoader(instances, BATCH_SIZE, vocab=vocabulary)
        trainer = Trainer.from_params(params=params.pop("trainer"), model=model, serialization_dir=str(tmp_path),
                                      data_loader=loader)
        model.train()
        return trainer

    return _build


def groups(model):
    names = {name for name, _ in model.named_parameters()}
    group = {
        "energy": {n for n in names if n.startswith("score_nn.")},
        "shared": {n for n in names if n.startswith("task_nn.feedforward.")},
        "F head": {n for n in names if n.startswith("task_nn.label_layer.")},
        "A head": {n for n in names if n.startswith("cost_augmented_nn.")},
    }
    assert set().union(*group.values()) == names and sum(map(len, group.values())) == len(names)
    return group


@pytest.mark.parametrize("step, updated_groups", [
    ("score_nn", {"energy"}),
    ("task_nn", {"shared", "F head"}),
    ("cost_augmented_nn", {"shared", "A head"}),
])
def test_a_trainer_step_updates_exactly_its_networks(trainer_of, step, updated_groups):
    trainer = trainer_of()
    model = trainer.model
    before = snapshot(model)
    losses, _ = trainer._train_batch(first_batch(trainer), [step])
    assert set(losses) == {step} and math.isfinite(losses[step])
    updated = changed(model, before)
    for name, members in groups(model).items():
        weights = {n for n in members if n.endswith("weight")}
        if name in updated_groups:  # every weight matrix moved (a bias may keep a zero gradient)
            assert weights <= updated, (name, weights - updated)
        else:
            assert not members & updated, (name, members & updated)


def test_a_training_batch_runs_F_once_and_A_twice(trainer_of):
    """Energy, F, A: F's output (with gradient) from the energy's step serves F's step; A runs
    without gradient for the energy's step and anew, after F's step changed the shared network,
    for its own."""
    trainer = trainer_of()
    model = trainer.model
    calls: Counter = Counter()
    for name in ("task_nn", "cost_augmented_nn"):
        getattr(model, name).register_forward_hook(
            lambda *_, name=name: calls.update([(name, torch.is_grad_enabled())]))
    losses, _ = trainer._train_batch(first_batch(trainer), model.active_steps(0))
    assert list(losses) == STEPS and all(math.isfinite(value) for value in losses.values())
    assert calls == {("task_nn", True): 1, ("cost_augmented_nn", False): 1, ("cost_augmented_nn", True): 1}


def test_the_trainer_needs_an_optimizer_for_the_cost_augmented_network(trainer_of):
    config = json.loads(_jsonnet.evaluate_file(str(CONFIG)))
    del config["trainer"]["optimizers"]["cost_augmented_nn"]
    trainer = trainer_of(config)
    with pytest.raises(ConfigurationError, match="no optimizer for \\['cost_augmented_nn'\\]"):
        trainer._steps_of(0)


# ---- prediction and errors ---------------------------------------------------------------------
def test_the_test_time_network_predicts_alone():
    torch.manual_seed(0)
    model = build()
    model.eval()
    x, _ = batch()
    probabilities = model(x=x)["probabilities"]
    assert probabilities.shape == (BATCH, NUM_LABELS)
    torch.testing.assert_close(probabilities, torch.sigmoid(model.task_nn(x=x).logits))
    assert not torch.allclose(probabilities, torch.sigmoid(model.cost_augmented_nn(x=x).logits))


@pytest.mark.parametrize("extra, message", [
    ({"perceptron_weight": 0.0}, "perceptron_weight > 0"),
    ({"perceptron_weight": -1.0}, "perceptron_weight > 0"),
    ({"cross_entropy_weight": -0.1}, "cross_entropy_weight >= 0"),
    ({"guard": True, "cross_entropy_weight": 0.0}, "guard is cross-entropy's gradient"),
    ({"guard": True, "guard_epochs": 0}, "guard_epochs >= 1"),
    ({"score_nn_loss": {"type": "nce-ranking"}}, "sets score_nn_loss itself"),
    ({"task_nn_loss": {"type": "cross-entropy"}}, "sets task_nn_loss itself"),
    ({"inference": {"type": "gradient-based-inference"}}, "sets inference itself"),
    ({"cost_augmented_head": ["no_such_layer"]}, "matches no parameter"),
    ({"score_nn": None}, "score_nn"),
    ({"task_nn": None}, "task_nn"),
], ids=["zero-perceptron", "negative-perceptron", "negative-ce", "guard-without-ce", "zero-guard-epochs",
        "score-loss", "task-loss", "inference", "head", "no-score-nn", "no-task-nn"])
def test_bad_settings_raise(extra, message):
    config = {"type": "infnet-plus", "task_nn": task_nn(), "score_nn": score_nn(), **extra}
    config = {key: value for key, value in config.items() if value is not None}
    with pytest.raises(ConfigurationError, match=message):
        Model.from_params(vocab=vocab(), params=Params(config))


def test_unknown_step_names_the_three_steps():
    x, labels = batch()
    with pytest.raises(ConfigurationError, match="'score_nn', 'task_nn', 'cost_augmented_nn'"):
        build()(x=x, labels=labels, seal_step="both")


# ---- end to end --------------------------------------------------------------------------------
def test_fixture_run_trains_evaluates_and_predicts(tmp_path):
    """`allennlp train` of the fixture config (2 epochs on 40 rows), `allennlp evaluate` of its
    archive, and the predictor: the loaded archive still shares the feature network and predicts
    with the test-time network."""
    run = tmp_path / "run"
    train_in_process(CONFIG, run, {})
    metrics = read_json(run / "metrics.json")
    for key in ("training_score_nn_loss", "training_task_nn_loss", "training_cost_augmented_nn_loss",
                "best_validation_example_f1", "test_example_f1"):
        assert math.isfinite(metrics[key]), key
    assert read_json(run / "config.json")["model"]["type"] == "infnet-plus"

    test_file = SCENE_SMALL / "scene-test.arff"
    evaluated = evaluate_in_process(run / "model.tar.gz", test_file, tmp_path / "evaluation.json")
    assert evaluated["example_f1"] == pytest.approx(metrics["test_example_f1"], abs=1e-6)

    archive = load_archive(str(run / "model.tar.gz"))
    model = archive.model
    assert model.cost_augmented_nn.feedforward is model.task_nn.feedforward
    predictor = Predictor.from_archive(archive)
    rows = [instance for _, instance in zip(range(3), ArffDatasetReader().read(str(test_file)))]
    for instance in rows:
        features = instance["x"].tensor
        output = predictor.predict_json({"features": features.tolist()})
        assert set(output["predicted_labels"]) <= set(SCENE_LABELS)
        with torch.no_grad():
            expected = torch.sigmoid(model.task_nn(x=features.unsqueeze(0)).logits)[0]
        torch.testing.assert_close(torch.tensor(output["probabilities"]), expected, rtol=1e-5, atol=1e-6)
