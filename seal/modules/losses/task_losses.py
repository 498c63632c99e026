from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.losses.loss import Loss, LossInputs, gold_outputs, task_probabilities
from seal.modules.oracles.oracle import OracleValue


def per_decision(inputs: LossInputs, values: torch.Tensor) -> torch.Tensor:
    """Per-instance `values` `(batch,)` divided by each instance's number of decisions (labels, or
    unpadded tokens): the scale of a per-token cross-entropy."""
    decisions = inputs.output_space.num_decisions(inputs.mask, inputs.labels).clamp_min(1)
    return values / decisions.to(values.dtype)


@Loss.register("cross-entropy")
class CrossEntropyLoss(Loss):
    """Negative log-likelihood of the gold output under the task-net's distribution, divided by the
    number of decisions (labels, or unpadded tokens) and averaged over the batch: binary
    cross-entropy for label sets, token cross-entropy for tag sequences, and the log-likelihood
    objective of a CRF task-net."""

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        distribution = inputs.task_net_distribution("cross-entropy")
        return -per_decision(inputs, distribution.log_prob(gold_outputs(inputs)).squeeze(1)).mean()


@Loss.register("energy")
class EnergyLoss(Loss):
    """The loss-net's energy of the task-net's relaxed output, `-s(x, p(x))`, averaged over the
    batch: SEAL's task-net objective.  Differentiable in the task-net through `p(x)`.

    # Parameters
    cost_augmented : `OracleValue`, optional
        When given, the loss is `-(s(x, p) + Delta(p, y*))` with `Delta = 1 - oracle`: the
        cost-augmented inference network of Tu & Gimpel (2018), which plays the max player of the
        SSVM min-max game.
    normalize : `bool`, optional (default = `False`)
        Divide each instance's objective by its number of decisions (labels, or unpadded tokens),
        the scale of `cross-entropy`.  A score sums over decisions, so without this the energy's
        weight relative to cross-entropy grows with the number of labels (6x on scene, 379x on
        debtags, where the task-net collapses).
    """

    def __init__(self, cost_augmented: Optional[OracleValue] = None, normalize: bool = False) -> None:
        super().__init__()
        self.cost_augmented = cost_augmented
        self.normalize = normalize

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        score = inputs.require_score("energy")
        y = task_probabilities(inputs, "energy")
        objective = score(y)
        if self.cost_augmented is not None:
            objective = objective + self.cost_augmented.task_loss(y, inputs.labels, inputs.mask)
        if self.normalize:
            objective = per_decision(inputs, objective.squeeze(1)).unsqueeze(1)
        return -objective.mean()


@Loss.register("negative-entropy")
class NegativeEntropyLoss(Loss):
    """Minus the entropy of the task-net's distribution, `-H(p(x))`, divided by the
    number of decisions (labels, or unpadded tokens) and averaged over the batch; differentiable in
    the task-net.

    Why: a score-net trained by `nce-ranking` (with its proposal correction) models a log-density,
    `s(x, y) ~ log p_s(y | x) + c(x)`.  The energy of the relaxed output is then the expected
    `-log p_s` under the task-net's distribution `q` (exactly so for local and linear-chain terms),
    and minimising it alone drives `q` to the mode of `p_s` (for NER: towards `O` wherever an
    entity is uncertain).  `energy + tau * negative-entropy` is the free energy
    `E_q[-s] - tau H(q)`, which for `tau = 1` is `KL(q || p_s)` up to a constant: the task-net then
    matches `p_s` instead of collapsing onto its mode.  Use it with a normalised energy, so that
    both are per decision.
    """

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        entropy = inputs.task_net_distribution("negative-entropy").entropy()
        return -per_decision(inputs, entropy).mean()


@Loss.register("weighted-sum")
class WeightedSumLoss(Loss):
    """`sum_i weights[i] * losses[i]`; e.g. SEAL's task-net loss: energy + w * cross-entropy."""

    def __init__(self, losses: List[Loss], weights: Optional[List[float]] = None) -> None:
        super().__init__()
        weights = weights if weights is not None else [1.0] * len(losses)
        if not losses or len(weights) != len(losses):
            raise ConfigurationError(
                f"weighted-sum needs one weight per loss, got {len(losses)} losses and {len(weights)} weights"
            )
        if not any(weights):
            raise ConfigurationError("weighted-sum needs at least one non-zero weight")
        self.losses = torch.nn.ModuleList(losses)
        self.weights = weights

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        return sum(weight * loss(inputs) for weight, loss in zip(self.weights, self.losses) if weight != 0)
