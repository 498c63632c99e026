import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model

from seal.models import DVN, SPEN, CrossEntropyModel, InferenceNetwork, SealDynamic, SealModel, SealStatic
from seal.modules.losses import CrossEntropyLoss, EnergyLoss, MarginLoss, NCERankingLoss, WeightedSumLoss

INPUT_DIM, NUM_LABELS, BATCH = 5, 3, 4


def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["a", "b", "c"], "labels")
    return vocab


# Params pops dicts in place: every piece is built fresh by a function.
def task_nn():
    return {
        "type": "feedforward",
        "feedforward": {"input_dim": INPUT_DIM, "num_layers": 1, "hidden_dims": 4, "activations": "softplus"},
    }


def score_nn():
    return {"task_nn": task_nn(), "global_score": {"type": "label-mlp", "hidden_dim": 4}}


CONFIGS = {
    "seal-dynamic": lambda: {"type": "seal-dynamic", "task_nn": task_nn(), "score_nn": score_nn()},
    "seal-static": lambda: {
        "type": "seal-static", "task_nn": task_nn(), "score_nn": score_nn(), "pretraining_epochs": 2
    },
    "cross-entropy": lambda: {"type": "cross-entropy", "task_nn": task_nn()},
    "spen": lambda: {"type": "spen", "score_nn": score_nn()},
    "dvn": lambda: {"type": "dvn", "score_nn": score_nn()},
    "infnet": lambda: {"type": "infnet", "task_nn": task_nn(), "score_nn": score_nn(), "game_epochs": 2},
}
CLASSES = {
    "seal-dynamic": SealDynamic,
    "seal-static": SealStatic,
    "cross-entropy": CrossEntropyModel,
    "spen": SPEN,
    "dvn": DVN,
    "infnet": InferenceNetwork,
}
# Which steps each model has a loss for.
STEPS = {
    "seal-dynamic": ["score_nn", "task_nn"],
    "seal-static": ["score_nn", "task_nn"],
    "cross-entropy": ["task_nn"],
    "spen": ["score_nn"],
    "dvn": ["score_nn"],
    "infnet": ["score_nn", "task_nn"],
}


def build(config: dict) -> SealModel:
    return Model.from_params(vocab=vocab(), params=Params(config))


def batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, INPUT_DIM, generator=generator)
    labels = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    return x, labels


def grads(module):
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_variant_builds_and_predicts_in_eval_mode(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    assert type(model) is CLASSES[name]
    model.eval()
    x, labels = batch()
    output = model(x=x, labels=labels)
    probabilities = output["probabilities"]
    assert probabilities.shape == (BATCH, NUM_LABELS)
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
    assert output["loss"].dim() == 0 and torch.isfinite(output["loss"])
    assert "mask" not in output
    metrics = model.get_metrics(reset=True)
    assert {"example_f1", "hamming_loss"} <= set(metrics)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_prediction_without_labels_has_no_loss(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.eval()
    output = model(x=batch()[0])
    assert set(output) == {"probabilities"} and output["probabilities"].shape == (BATCH, NUM_LABELS)


@pytest.mark.parametrize("name", ["seal-dynamic", "seal-static", "cross-entropy", "infnet"])
def test_task_net_models_predict_the_task_net_probabilities(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.eval()
    x, _ = batch()
    expected = torch.sigmoid(model.task_nn(x=x).logits)
    torch.testing.assert_close(model(x=x)["probabilities"], expected)


@pytest.mark.parametrize("name", ["spen", "dvn"])
def test_gbi_models_predict_by_gradient_based_inference(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.eval()
    x, _ = batch()
    probabilities = model(x=x)["probabilities"]
    bound = model.score_nn.bind({"x": x})
    with torch.no_grad():
        start, end = bound(torch.full((BATCH, 1, NUM_LABELS), 0.5)), bound(probabilities.unsqueeze(1))
    assert torch.all(end >= start)


@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if "score_nn" in STEPS[n]))
def test_score_step_trains_only_the_score_net(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.train()
    x, labels = batch()
    loss = model(x=x, labels=labels, seal_step="score_nn")["loss"]
    assert set(model(x=x, labels=labels, seal_step="score_nn")) == {"loss"}
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    if model.task_nn is not None:
        assert all(g is None for g in grads(model.task_nn))
    assert any(g is not None and g.abs().sum() > 0 for g in grads(model.score_nn))


@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if "task_nn" in STEPS[n]))
def test_task_step_trains_the_task_net(name):
    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.train()
    x, labels = batch()
    loss = model(x=x, labels=labels, seal_step="task_nn")["loss"]
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(g is not None for g in grads(model.task_nn))
    if model.score_nn is not None:  # the score-net's feature network is run without gradient
        assert all(g is None for g in grads(model.score_nn.task_nn))


@pytest.mark.parametrize("name", ["spen", "dvn"])
def test_models_without_task_net_have_no_task_step(name):
    model = build(CONFIGS[name]())
    x, labels = batch()
    with pytest.raises(ConfigurationError, match="no loss for step"):
        model(x=x, labels=labels, seal_step="task_nn")


def test_cross_entropy_model_has_no_score_step():
    model = build(CONFIGS["cross-entropy"]())
    x, labels = batch()
    with pytest.raises(ConfigurationError, match="no loss for step"):
        model(x=x, labels=labels, seal_step="score_nn")


def test_cross_entropy_model_step_loss_equals_mean_bce():
    torch.manual_seed(0)
    model = build(CONFIGS["cross-entropy"]())
    x, labels = batch()
    loss = model(x=x, labels=labels, seal_step="task_nn")["loss"]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(model.task_nn(x=x).logits, labels.float())
    torch.testing.assert_close(loss, expected)


def test_training_step_errors():
    model = build(CONFIGS["seal-dynamic"]())
    x, labels = batch()
    with pytest.raises(ConfigurationError, match="needs labels"):
        model(x=x, seal_step="task_nn")
    with pytest.raises(ConfigurationError, match="unknown training step"):
        model(x=x, labels=labels, seal_step="both")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_active_steps_of_every_variant_at_epoch_zero(name):
    assert build(CONFIGS[name]()).active_steps(0) == STEPS[name]


def test_seal_dynamic_defaults():
    model = build(CONFIGS["seal-dynamic"]())
    assert isinstance(model.score_nn_loss, NCERankingLoss)
    assert isinstance(model.task_nn_loss, WeightedSumLoss)
    assert [type(loss) for loss in model.task_nn_loss.losses] == [EnergyLoss, CrossEntropyLoss]
    assert model.inference is None
    assert model.active_steps(100) == ["score_nn", "task_nn"]


def test_seal_static_switches_after_pretraining():
    model = build(CONFIGS["seal-static"]())  # pretraining_epochs = 2
    assert model.active_steps(0) == ["score_nn", "task_nn"]
    assert isinstance(model.step_loss("task_nn"), CrossEntropyLoss)  # pretraining task-net
    assert model.active_steps(1) == ["score_nn", "task_nn"]
    assert model.active_steps(2) == ["task_nn"]
    assert isinstance(model.step_loss("task_nn"), WeightedSumLoss)  # energy + cross-entropy
    assert model.active_steps(5) == ["task_nn"]


def test_seal_static_phase_epoch_counts_from_the_freeze():
    # The task-net loss's guard (anchor_epochs) must cover the task-net's first epochs on the
    # frozen energy, not the pretraining epochs in which the energy is not in its loss.
    model = build(CONFIGS["seal-static"]())  # pretraining_epochs = 2
    phase_epochs = []
    for epoch in range(5):
        model.active_steps(epoch)
        phase_epochs.append(model.phase_epoch)
    assert phase_epochs == [0, 1, 0, 1, 2]
    dynamic = build(CONFIGS["seal-dynamic"]())
    dynamic.active_steps(4)
    assert dynamic.phase_epoch == 4


def test_seal_static_task_step_uses_cross_entropy_only_during_pretraining():
    torch.manual_seed(0)
    model = build(CONFIGS["seal-static"]())
    x, labels = batch()
    model.active_steps(0)
    model(x=x, labels=labels, seal_step="task_nn")["loss"].backward()
    assert all(g is None for g in grads(model.score_nn))  # cross-entropy alone: no score
    model.zero_grad(set_to_none=True)
    model.active_steps(2)
    model(x=x, labels=labels, seal_step="task_nn")["loss"].backward()
    assert model.score_nn.global_score.output.weight.grad is not None  # the energy term uses it


def test_infnet_switches_after_the_game():
    model = build(CONFIGS["infnet"]())  # game_epochs = 2
    assert isinstance(model.score_nn_loss, MarginLoss)
    assert model.active_steps(0) == ["score_nn", "task_nn"]
    game_loss = model.step_loss("task_nn")
    assert game_loss.losses[0].cost_augmented is not None  # cost-augmented inference network
    assert model.active_steps(1) == ["score_nn", "task_nn"]
    assert model.active_steps(2) == ["task_nn"]
    test_time_loss = model.step_loss("task_nn")
    assert test_time_loss is model.task_nn_loss and test_time_loss.losses[0].cost_augmented is None
    assert test_time_loss.weights == [1.0, 0.0]  # cross_entropy_weight defaults to 0


def test_infnet_guard_anchors_both_phases_on_cross_entropy():
    model = build({**CONFIGS["infnet"](), "cross_entropy_weight": 1.0, "guard": True, "guard_epochs": 3})
    model.active_steps(0)
    game_loss = model.step_loss("task_nn")
    model.active_steps(2)
    test_time_loss = model.step_loss("task_nn")
    for loss in (game_loss, test_time_loss):
        assert loss.anchor == 1 and isinstance(loss.losses[1], CrossEntropyLoss) and loss.anchor_epochs == 3
    assert build(CONFIGS["infnet"]()).task_nn_loss.anchor is None  # off by default


def test_infnet_guard_needs_cross_entropy():
    with pytest.raises(ConfigurationError, match="cross_entropy_weight"):
        build({**CONFIGS["infnet"](), "guard": True})


def test_infnet_game_task_loss_exceeds_test_time_loss_by_the_cost():
    # The game's task-net loss is -(s + Delta) with Delta >= 0; the later one is -s.
    torch.manual_seed(0)
    model = build(CONFIGS["infnet"]())
    x, labels = batch()
    model.active_steps(0)
    game = model(x=x, labels=labels, seal_step="task_nn")["loss"]
    model.active_steps(2)
    later = model(x=x, labels=labels, seal_step="task_nn")["loss"]
    assert game < later


def test_frozen_score_net_has_no_score_step():
    model = build(CONFIGS["seal-dynamic"]())
    model.score_nn.requires_grad_(False)
    assert model.active_steps(0) == ["task_nn"]


@pytest.mark.parametrize(
    "config, message",
    [
        (lambda: {"type": "seal-dynamic", "task_nn": task_nn()}, "score_nn"),
        (lambda: {"type": "seal-dynamic", "score_nn": score_nn()}, "task_nn"),
        (lambda: {"type": "cross-entropy", "task_nn": task_nn(), "score_nn": score_nn()}, "no score_nn"),
        (lambda: {"type": "cross-entropy"}, "task_nn"),
        (lambda: {"type": "seal-static", "task_nn": task_nn(), "score_nn": score_nn()}, "exactly one"),
        (
            lambda: {
                "type": "seal-static",
                "task_nn": task_nn(),
                "score_nn": score_nn(),
                "pretraining_epochs": 2,
                "score_nn_archive": "/nonexistent/model.tar.gz",
            },
            "exactly one",
        ),
        (lambda: {"type": "spen"}, "score_nn"),
        (lambda: {"type": "dvn", "task_nn": task_nn()}, "score_nn"),
        (lambda: {"type": "infnet", "task_nn": task_nn(), "game_epochs": 2}, "score_nn"),
        (lambda: {"type": "infnet", "task_nn": task_nn(), "score_nn": score_nn(), "game_epochs": 0}, "game_epochs"),
    ],
    ids=[
        "seal-dynamic-no-score-nn",
        "seal-dynamic-no-task-nn",
        "cross-entropy-with-score-nn",
        "cross-entropy-no-task-nn",
        "seal-static-neither-archive-nor-pretraining",
        "seal-static-both-archive-and-pretraining",
        "spen-no-score-nn",
        "dvn-no-score-nn",
        "infnet-no-score-nn",
        "infnet-zero-game-epochs",
    ],
)
def test_missing_pieces_raise(config, message):
    with pytest.raises(ConfigurationError, match=message):
        build(config())


def test_human_readable_output():
    torch.manual_seed(0)
    model = build(CONFIGS["cross-entropy"]())
    model.eval()
    output = model.make_output_human_readable(model(x=batch()[0]))
    assert len(output["predicted_labels"]) == BATCH
    assert set(output["label_probabilities"][0]) == {"a", "b", "c"}


# ---- archives ---------------------------------------------------------------------------------
def serialize(model: SealModel, model_config: dict, directory) -> str:
    """Writes `model` as a training run would (config, vocabulary, weights) and archives it."""
    import json

    from allennlp.models.archival import archive_model

    config = {"dataset_reader": {"type": "sequence_tagging"}, "model": model_config}
    (directory / "config.json").write_text(json.dumps(config))
    model.vocab.save_to_files(str(directory / "vocabulary"))
    torch.save(model.state_dict(), directory / "best.th")
    return archive_model(directory)


def test_seal_static_loads_and_freezes_the_score_net_of_an_archive(tmp_path):
    torch.manual_seed(0)
    source = build(CONFIGS["seal-dynamic"]())
    archive = serialize(source, CONFIGS["seal-dynamic"](), tmp_path)
    torch.manual_seed(1)  # a different initialisation, overwritten by the archive
    config = {"type": "seal-static", "task_nn": task_nn(), "score_nn": score_nn(), "score_nn_archive": archive}
    model = build(config)
    for name, parameter in model.score_nn.state_dict().items():
        torch.testing.assert_close(parameter, source.score_nn.state_dict()[name])
    assert all(not p.requires_grad for p in model.score_nn.parameters())
    assert model.active_steps(0) == ["task_nn"]
    assert isinstance(model.step_loss("task_nn"), WeightedSumLoss)  # no pretraining: energy + CE


def test_seal_static_with_a_mismatched_archive_raises(tmp_path):
    source_config = lambda: {  # noqa: E731
        "type": "seal-dynamic",
        "task_nn": task_nn(),
        "score_nn": {"task_nn": task_nn(), "global_score": {"type": "label-mlp", "hidden_dim": 7}},
    }
    archive = serialize(build(source_config()), source_config(), tmp_path)
    config = {"type": "seal-static", "task_nn": task_nn(), "score_nn": score_nn(), "score_nn_archive": archive}
    with pytest.raises(ConfigurationError, match="does not match"):
        build(config)


def test_seal_static_archive_without_score_net_raises(tmp_path):
    archive = serialize(build(CONFIGS["cross-entropy"]()), CONFIGS["cross-entropy"](), tmp_path)
    config = {"type": "seal-static", "task_nn": task_nn(), "score_nn": score_nn(), "score_nn_archive": archive}
    with pytest.raises(ConfigurationError, match="has no score_nn"):
        build(config)


def test_archived_seal_static_loads_without_the_source_archive(tmp_path):
    from allennlp.models.archival import load_archive

    torch.manual_seed(0)
    (tmp_path / "source").mkdir()
    source_archive = serialize(build(CONFIGS["seal-dynamic"]()), CONFIGS["seal-dynamic"](), tmp_path / "source")
    config = lambda: {  # noqa: E731
        "type": "seal-static",
        "task_nn": task_nn(),
        "score_nn": score_nn(),
        "score_nn_archive": source_archive,
    }
    model = build(config())
    (tmp_path / "static").mkdir()
    archive = serialize(model, config(), tmp_path / "static")
    import os

    os.remove(source_archive)
    loaded = load_archive(archive).model
    assert isinstance(loaded, SealStatic)
    for name, parameter in loaded.state_dict().items():
        torch.testing.assert_close(parameter, model.state_dict()[name])
    model.eval()
    loaded.eval()
    x, _ = batch()
    torch.testing.assert_close(loaded(x=x)["probabilities"], model(x=x)["probabilities"])


def test_archived_seal_static_reports_the_post_pretraining_validation_loss(tmp_path):
    from allennlp.models.archival import load_archive

    torch.manual_seed(0)
    (tmp_path / "source").mkdir()
    source_archive = serialize(build(CONFIGS["seal-dynamic"]()), CONFIGS["seal-dynamic"](), tmp_path / "source")
    config = lambda: {  # noqa: E731
        "type": "seal-static",
        "task_nn": task_nn(),
        "score_nn": score_nn(),
        "score_nn_archive": source_archive,
    }
    model = build(config())
    (tmp_path / "static").mkdir()
    loaded = load_archive(serialize(model, config(), tmp_path / "static")).model
    model.eval()
    loaded.eval()
    x, labels = batch()
    # The model built from the archive uses energy + cross-entropy; "rebuilt as if pretrained"
    # should report the same validation loss.
    assert isinstance(loaded.step_loss("task_nn"), WeightedSumLoss)
    torch.testing.assert_close(loaded(x=x, labels=labels)["loss"], model(x=x, labels=labels)["loss"])


@pytest.mark.parametrize("name, last_epoch", [("seal-static", 2), ("infnet", 2)])
def test_loaded_model_reports_the_validation_loss_of_the_end_of_training(tmp_path, name, last_epoch):
    from allennlp.models.archival import load_archive

    torch.manual_seed(0)
    model = build(CONFIGS[name]())
    model.active_steps(last_epoch)  # the trainer's last epoch: past pretraining / the game
    loaded = load_archive(serialize(model, CONFIGS[name](), tmp_path)).model
    model.eval()
    loaded.eval()
    x, labels = batch()
    torch.testing.assert_close(loaded(x=x, labels=labels)["loss"], model(x=x, labels=labels)["loss"])
