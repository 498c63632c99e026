"""The `implicit-energy` model: its score-net step's gradient is the implicit hypergradient,
checked against explicit Hessians of a tiny model written out by hand (float64); its steps and
defaults; and a fixture run through `allennlp train`."""
import math

import pytest
import torch
import torch.nn.functional as F
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model
from torch.func import functional_call

from seal.models import ImplicitEnergy
from seal.modules.losses import ContrastiveDivergenceLoss, WeightedSumLoss
from seal.modules.samplers import GradientBasedInference
from seal.nn.hypergradient import ImplicitHypergradient
from tests.models.test_variants import BATCH, NUM_LABELS, batch, grads, score_nn, task_nn, vocab
from tests.util import FIXTURE_CONFIGS, read_json, train_in_process

CE_WEIGHT = 0.5


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def build(**extra) -> ImplicitEnergy:
    config = {"type": "implicit-energy", "task_nn": task_nn(), "score_nn": score_nn(), **extra}
    return Model.from_params(vocab=vocab(), params=Params(config))


def plain_margin_model(hypergradient) -> ImplicitEnergy:
    """Margin on the task-net's relaxed output (deterministic), and an unguarded inner loss
    energy + CE_WEIGHT * cross-entropy."""
    torch.manual_seed(0)
    return build(
        score_nn_loss={"type": "margin"},
        task_nn_loss={"type": "weighted-sum", "losses": [{"type": "energy"}, {"type": "cross-entropy"}],
                      "weights": [1.0, CE_WEIGHT]},
        hypergradient=dict(hypergradient),  # Params empties the dicts it reads
    )


class ByHand:
    """The model's outer and inner objectives written out as functions of flat parameter vectors:
    with `p = sigmoid(A_psi(x))`, `s` the score-net and gold `g`,
        L(phi, psi)     = mean_b [1 - F1(p, g) + s(p) - s(g)]_+            (margin, task-net sample)
        L_aux(phi, psi) = -mean_b s(p) + CE_WEIGHT * mean_b BCE(logits, g)  (energy + CE)."""

    def __init__(self, model, x, labels):
        self.model, self.x, self.gold = model, x, labels.double()
        self.phi = dict((n, p.detach()) for n, p in model.score_nn.named_parameters())
        self.psi = dict((n, p.detach()) for n, p in model.task_nn.named_parameters())

    def vector(self, parameters):
        return torch.cat([p.reshape(-1) for p in parameters.values()])

    def unflatten(self, values, like):
        out, start = {}, 0
        for name, p in like.items():
            out[name] = values[start:start + p.numel()].view_as(p)
            start += p.numel()
        return out

    def pieces(self, phi, psi):
        logits = functional_call(self.model.task_nn, self.unflatten(psi, self.psi), (), {"x": self.x}).logits
        p = torch.sigmoid(logits).unsqueeze(1)
        scores = functional_call(self.model.score_nn, self.unflatten(phi, self.phi),
                                 ({"x": self.x}, torch.cat([p, self.gold.unsqueeze(1)], 1)))
        return logits, p, scores

    def outer(self, phi, psi):
        _, p, scores = self.pieces(phi, psi)
        f1 = 2 * (p[:, 0] * self.gold).sum(-1) / (p[:, 0].sum(-1) + self.gold.sum(-1))
        return F.relu(1 - f1 + scores[:, 0] - scores[:, 1]).mean()

    def inner(self, phi, psi):
        logits, _, scores = self.pieces(phi, psi)
        return -scores[:, 0].mean() + CE_WEIGHT * F.binary_cross_entropy_with_logits(logits, self.gold)

    def parts(self):
        """dL/dphi, dL/dpsi, the Hessian d2L_aux/dpsi2 and the mixed d2L_aux/(dphi dpsi) (phi rows)."""
        phi, psi = self.vector(self.phi), self.vector(self.psi)
        d_phi, d_psi = torch.autograd.functional.jacobian(self.outer, (phi, psi))
        hessian = torch.autograd.functional.hessian(lambda v: self.inner(phi, v), psi)

        def inner_psi_gradient(phi_values):
            return torch.autograd.functional.jacobian(lambda v: self.inner(phi_values, v), psi, create_graph=True)

        mixed = torch.autograd.functional.jacobian(inner_psi_gradient, phi).T
        return d_phi, d_psi, hessian, mixed


def score_step_gradient(model, x, labels):
    model.train()
    model.zero_grad(set_to_none=True)
    loss = model(x=x, labels=labels, seal_step="score_nn")["loss"]
    loss.backward()
    return loss, torch.cat([p.grad.reshape(-1) for p in model.score_nn.parameters()])


@pytest.mark.parametrize("settings", [
    {"inverse": "none"},
    {"inverse": "identity"},
    {"inverse": "neumann", "num_terms": 4, "alpha": 0.3},
])
def test_score_step_gradient_is_the_hypergradient_written_out_by_hand(float64, settings):
    model = plain_margin_model(settings)
    x, labels = batch()
    by_hand = ByHand(model, x.double(), labels)
    d_phi, d_psi, hessian, mixed = by_hand.parts()
    inverse = {
        "none": torch.zeros_like(hessian),
        "identity": torch.eye(len(hessian)),
        "neumann": 0.3 * sum(torch.linalg.matrix_power(torch.eye(len(hessian)) - 0.3 * hessian, k) for k in range(4)),
    }[settings["inverse"]]
    expected = d_phi - mixed @ (inverse @ d_psi)

    loss, gradient = score_step_gradient(model, x.double(), labels)
    torch.testing.assert_close(gradient, expected)
    assert loss.item() == pytest.approx(by_hand.outer(by_hand.vector(by_hand.phi), by_hand.vector(by_hand.psi)).item())
    assert all(g is None for g in grads(model.task_nn))  # the task-net gets nothing from this step
    if settings["inverse"] != "none":  # the implicit term is really there
        assert (expected - d_phi).norm() > 1e-3 * d_phi.norm()
        norms = model.last_hypergradient_norms
        assert norms["implicit"] == pytest.approx(float((mixed @ (inverse @ d_psi)).norm()))


def test_finite_difference_hessian_products_agree_with_double_backward(float64):
    x, labels = batch()
    settings = {"inverse": "neumann", "num_terms": 4, "alpha": 0.3}
    _, exact = score_step_gradient(plain_margin_model(settings), x.double(), labels)
    fd = {**settings, "hvp": "finite-difference", "finite_difference_step": 1e-5}
    _, approximate = score_step_gradient(plain_margin_model(fd), x.double(), labels)
    torch.testing.assert_close(approximate, exact, rtol=1e-6, atol=1e-8)


def test_defaults_and_step_order():
    model = build()
    assert isinstance(model.score_nn_loss, ContrastiveDivergenceLoss)
    assert isinstance(model.task_nn_loss, WeightedSumLoss)  # SEAL-dynamic's task-net loss
    assert isinstance(model.hypergradient, ImplicitHypergradient) and model.hypergradient.inverse == "neumann"
    assert model.inference is None
    assert model.active_steps(0) == ["task_nn", "score_nn"]  # inner steps first
    configured = build(hypergradient={"inverse": "cg", "cg_iterations": 4, "hvp": "finite-difference"})
    assert (configured.hypergradient.inverse, configured.hypergradient.hvp) == ("cg", "finite-difference")


def test_every_primary_loss_and_inverse_gives_a_finite_score_step_with_dropout():
    x, labels = batch()
    for loss in ({"type": "contrastive-divergence"}, {"type": "nce-ranking", "num_samples": 3}, {"type": "dvn"},
                 {"type": "margin"}):
        for hypergradient in ({"inverse": "cg", "cg_iterations": 3}, {"hvp": "finite-difference"}):
            torch.manual_seed(0)
            config = {"type": "implicit-energy", "score_nn_loss": dict(loss), "hypergradient": dict(hypergradient),
                      "task_nn": {**task_nn(), "dropout": 0.5}, "score_nn": score_nn()}
            model = Model.from_params(vocab=vocab(), params=Params(config))
            value, gradient = score_step_gradient(model, x, labels)
            assert math.isfinite(value.item()) and torch.isfinite(gradient).all(), (loss, hypergradient)
            assert model.last_hypergradient_norms["implicit"] > 0, (loss, hypergradient)


def test_task_step_is_seal_dynamics():
    torch.manual_seed(0)
    model = build()
    model.train()
    x, labels = batch()
    model(x=x, labels=labels, seal_step="task_nn")["loss"].backward()
    assert all(g is not None for g in grads(model.task_nn))
    assert all(g is None for g in grads(model.score_nn.task_nn))


def test_prediction_is_the_task_net_unless_refined():
    torch.manual_seed(0)
    model = build()
    model.eval()
    x, _ = batch()
    torch.testing.assert_close(model(x=x)["probabilities"], torch.sigmoid(model.task_nn(x=x).logits))
    torch.manual_seed(0)
    refined = build(refinement_steps=5, refinement_step_size=0.5)
    refined.eval()
    assert isinstance(refined.inference, GradientBasedInference) and refined.inference.init == "task-net"
    probabilities = refined(x=x)["probabilities"]
    assert probabilities.shape == (BATCH, NUM_LABELS)
    start = torch.sigmoid(refined.task_nn(x=x).logits).unsqueeze(1)
    bound = refined.score_nn.bind({"x": x})
    with torch.no_grad():
        assert torch.all(bound(probabilities.unsqueeze(1)) >= bound(start))  # never a higher energy
    with pytest.raises(ConfigurationError, match="refinement_steps or inference"):
        build(refinement_steps=2, inference={"type": "gradient-based-inference"})


# ---- end to end ------------------------------------------------------------------------------
def test_fixture_training_run(tmp_path):
    """`allennlp train` of the fixture config (2 epochs on 40 rows): finite losses of both steps,
    a test F1, and an archive that predicts with the task-net."""
    train_in_process(FIXTURE_CONFIGS / "scene_small_implicit_energy_cd.jsonnet", tmp_path / "run", {})
    metrics = read_json(tmp_path / "run" / "metrics.json")
    for key in ("training_score_nn_loss", "training_task_nn_loss", "test_example_f1"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_example_f1"] <= 1.0
    assert read_json(tmp_path / "run" / "config.json")["model"]["type"] == "implicit-energy"


def test_metrics_are_the_epochs_mean_hypergradient_norms_of_training_steps_only():
    model = plain_margin_model({"inverse": "neumann", "num_terms": 3, "alpha": 0.3})
    assert not any(key.startswith("hypergradient") for key in model.get_metrics())
    norms = []
    for seed in (0, 1):
        x, labels = batch(seed)
        score_step_gradient(model, x, labels)
        norms.append(dict(model.last_hypergradient_norms))
    model.eval()
    model(x=x, labels=labels, seal_step="score_nn")  # not recorded: eval mode
    metrics = model.get_metrics(reset=True)
    direct = sum(n["direct"] for n in norms) / 2
    implicit = sum(n["implicit"] for n in norms) / 2
    assert metrics["hypergradient_direct_norm"] == pytest.approx(direct)
    assert metrics["hypergradient_implicit_norm"] == pytest.approx(implicit)
    assert metrics["hypergradient_implicit_ratio"] == pytest.approx(implicit / direct)
    assert not any(key.startswith("hypergradient") for key in model.get_metrics())  # reset
