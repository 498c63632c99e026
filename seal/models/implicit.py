"""Implicit (bi-level) training of the energy (Shankar & Piratla, 2022)."""
import contextlib
import dataclasses
import logging
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from torch.nn.attention import SDPBackend, sdpa_kernel

from seal.models.seal_model import SCORE_STEP, TASK_STEP
from seal.models.variants import SealDynamic
from seal.modules.distributions import OutputDistribution
from seal.modules.losses.cd_loss import ContrastiveDivergenceLoss
from seal.modules.losses.loss import Loss, LossInputs
from seal.modules.losses.task_losses import WeightedSumLoss
from seal.modules.samplers.gradient_based_inference import GradientBasedInference
from seal.modules.task_nets.task_nn import TaskOutput
from seal.nn.hypergradient import ImplicitHypergradient, norm, surrogate_loss

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class AttachedLossInputs(LossInputs):
    """`LossInputs` whose task-net distribution keeps its gradient, also where a loss or sampler
    asks for it detached: the outer objective read as a function of the inference network's
    parameters.  Relaxed outputs and log-probabilities then carry gradient to the task-net;
    discrete samples stay constants."""

    def task_distribution(self, user: str, detach: bool, temperature: float = 1.0) -> OutputDistribution:
        return super().task_distribution(user, False, temperature)


def plain_objective(loss: Loss, inputs: LossInputs) -> torch.Tensor:
    """The value of `loss` on `inputs` as a differentiable scalar, with the guard of a
    `weighted-sum` left out: the guard changes only the backward pass of the sum, so that its
    gradient is no longer the gradient of any objective, while the implicit function theorem needs
    the Hessian of the objective itself."""
    if isinstance(loss, WeightedSumLoss):
        return sum(weight * plain_objective(term, inputs) for weight, term in zip(loss.weights, loss.losses)
                   if weight != 0)
    return loss(inputs)


@Model.register("implicit-energy")
class ImplicitEnergy(SealDynamic):
    """The energy trained as the outer problem of a bi-level optimisation whose inner problem is
    the inference network's (Shankar & Piratla, 2022, "Implicit Training of Energy Model for
    Structured Prediction").

    - Inner problem: the task-net `A_psi` (the inference network, shared between training and
      prediction) minimises `task_nn_loss`, by default SEAL-dynamic's `E_phi(x, A_psi(x)) +
      lambda * CE(A_psi(x), y)`; the trainer's `num_steps.task_nn` sets the inner steps per batch.
    - Outer problem: the score-net `phi` minimises `score_nn_loss` (the primary loss: `margin`,
      `nce-ranking`, `dvn` or `contrastive-divergence`, the default) at the inner solution, by the
      implicit hypergradient `dL/dphi - d2L_aux/(dphi dpsi) [d2L_aux/dpsi2]^-1 dL/dpsi` (see
      `seal.nn.hypergradient`), where `L_aux` is the task-net loss and the current task-net is
      taken as the inner solution.

    Each batch runs the task-net (inner) steps first, then the score-net (outer) step, so the outer
    step sees the task-net after its steps on the same batch.  The score-net step returns a scalar
    equal to the primary loss whose gradient with respect to the score-net is the hypergradient,
    and which sends the task-net no gradient; the trainer backpropagates it and steps the
    score-net's optimizer (with its clipping) as for any loss.

    The primary loss is differentiated with respect to the task-net as it reads it (relaxed outputs
    and log-probabilities, see `AttachedLossInputs`); discrete samples are constants, except that
    `contrastive-divergence` adds their score-function term.  A loss that does not depend on the
    task-net differentiably (e.g. `margin` on cost-augmented GBI) has no implicit term.

    The task-net alone predicts, unless `refinement_steps > 0`: then gradient-based inference on
    the energy, started at the task-net's output, refines it at test time (off by default).

    After each score-net step `last_hypergradient_norms` holds the norms of the direct and the
    implicit part of the hypergradient (`{"direct": ..., "implicit": ...}`).  Metrics
    (`get_metrics`, so `training_hypergradient_direct_norm` etc. in `metrics_epoch_*.json` and
    TensorBoard): the means over the epoch's score-net steps in training mode of
    `hypergradient_direct_norm` (`||dL/dphi||`) and `hypergradient_implicit_norm` (the norm of the
    implicit term, the part first-order alternation such as InfNet+ drops), and
    `hypergradient_implicit_ratio`, the ratio of those two means (left out while the direct mean is
    0); nothing when no such step ran since the last reset (validation reports none); per worker
    in distributed training.

    # Parameters
    vocab : `Vocabulary`
    score_nn_loss : `Loss`, optional (default = `contrastive-divergence`)
    hypergradient : `ImplicitHypergradient`, optional (default = its defaults: 5 Neumann terms,
        `alpha = 0.01`, double backward)
    refinement_steps : `int`, optional (default = `0`)
    refinement_step_size : `float`, optional (default = `0.1`)
    **kwargs : as `seal-dynamic` (task_nn, score_nn, task_nn_loss, output_space, ...).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        score_nn_loss: Optional[Loss] = None,
        hypergradient: Optional[ImplicitHypergradient] = None,
        refinement_steps: int = 0,
        refinement_step_size: float = 0.1,
        **kwargs,
    ) -> None:
        if refinement_steps < 0:
            raise ConfigurationError(f"implicit-energy: refinement_steps must be >= 0, got {refinement_steps}")
        if refinement_steps > 0:
            if kwargs.get("inference") is not None:
                raise ConfigurationError("implicit-energy: give either refinement_steps or inference, not both")
            kwargs["inference"] = GradientBasedInference(refinement_steps, refinement_step_size, init="task-net")
        super().__init__(vocab, score_nn_loss=score_nn_loss or ContrastiveDivergenceLoss(), **kwargs)
        self.hypergradient = hypergradient or ImplicitHypergradient()
        self.last_hypergradient_norms: Dict[str, float] = {}
        self._norm_sums: Dict[str, float] = {"direct": 0.0, "implicit": 0.0}
        self._norm_steps = 0

    def active_steps(self, epoch: int) -> List[str]:
        """The base model's steps with the inner (task-net) steps first."""
        steps = super().active_steps(epoch)
        return [step for step in steps if step == TASK_STEP] + [step for step in steps if step != TASK_STEP]

    def _step_loss(
        self, step: str, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[TaskOutput], LossInputs]:
        if step != SCORE_STEP:
            return super()._step_loss(step, inputs, labels)
        return self._outer_step_loss(inputs, labels)

    def _outer_step_loss(self, inputs: Dict[str, Any], labels: torch.Tensor) -> Tuple[torch.Tensor, None, LossInputs]:
        """The score-net step: the primary loss, with the hypergradient as its gradient.  Double
        backward runs attention (e.g. a self-attention score) on its math kernel: the fused CPU
        kernels have no second derivative."""
        double_backward = self.hypergradient.hvp == "double-backward"
        with sdpa_kernel([SDPBackend.MATH]) if double_backward else contextlib.nullcontext():
            return self._hypergradient_step_loss(inputs, labels)

    def _hypergradient_step_loss(
        self, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, None, LossInputs]:
        task_output = self._run_task_nn(inputs, with_grad=True)
        score = self.score_nn.bind(inputs)
        outer_inputs = self._context(AttachedLossInputs, inputs, task_output, labels, True, score)
        outer_loss = self.step_loss(SCORE_STEP)(outer_inputs)
        inner_loss = self.step_loss(TASK_STEP)
        # Double backward differentiates the task-net output already computed; finite differences
        # recompute it at each perturbed task-net.
        reusable = [task_output] if self.hypergradient.hvp == "double-backward" else []

        def inner_objective() -> torch.Tensor:
            output = reusable.pop() if reusable else self._run_task_nn(inputs, with_grad=True)
            return plain_objective(inner_loss, self._context(LossInputs, inputs, output, labels, True, score))

        phi = [p for p in self.score_nn.parameters() if p.requires_grad]
        psi = [p for p in self.task_nn.parameters() if p.requires_grad]
        result = self.hypergradient(outer_loss, inner_objective, phi, psi)
        self.last_hypergradient_norms = {"direct": norm(result.direct), "implicit": norm(result.implicit)}
        logger.debug("hypergradient norms: %s", self.last_hypergradient_norms)
        if self.training:
            for name, value in self.last_hypergradient_norms.items():
                self._norm_sums[name] += value
            self._norm_steps += 1
        return surrogate_loss(outer_loss, phi, result.total), None, outer_inputs

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        """The base model's metrics and the epoch's mean hypergradient norms (see the class docstring)."""
        metrics = super().get_metrics(reset)
        if self._norm_steps:
            direct, implicit = (self._norm_sums[name] / self._norm_steps for name in ("direct", "implicit"))
            metrics.update(hypergradient_direct_norm=direct, hypergradient_implicit_norm=implicit)
            if direct > 0:
                metrics["hypergradient_implicit_ratio"] = implicit / direct
        if reset:
            self._norm_sums, self._norm_steps = {"direct": 0.0, "implicit": 0.0}, 0
        return metrics
