import dataclasses
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


REDUCTIONS = ("instance", "decision", "sum")


def reduce_per_decision(inputs: LossInputs, values: torch.Tensor, reduction: str = "instance") -> torch.Tensor:
    """The batch's loss from per-instance sums over decisions `values` `(batch,)`:

    - `"instance"`: the mean over instances of each one's mean per decision (every instance weighs
      the same, as AllenNLP's `sequence_cross_entropy_with_logits` with `average="batch"`);
    - `"decision"`: the mean over all the batch's decisions, `sum(values) / sum(decisions)` (every
      token weighs the same, so a long sentence counts for more);
    - `"sum"`: `sum(values)`, the batch's total, as allennlp-models' `crf_tagger`.

    The three are the same up to a constant factor when every instance has as many decisions (label
    sets, images).  For tag sequences they differ, and with a gradient-norm clip the large `"sum"`
    is clipped at every step, which trains a tagger faster in a short budget
    (benchmarks/tuning/crf.md, section brown_crf_reduction).
    """
    if reduction == "instance":
        return per_decision(inputs, values).mean()
    if reduction == "sum":
        return values.sum()
    decisions = inputs.output_space.num_decisions(inputs.mask, inputs.labels)
    return values.sum() / decisions.sum().clamp_min(1).to(values.dtype)


class PerDecisionLoss(Loss):
    """A task-net objective that sums over decisions (labels, tokens, pixels) and is reduced over
    the batch by `reduction` (`reduce_per_decision`: `"instance"`, `"decision"` or `"sum"`)."""

    def __init__(self, reduction: str = "instance") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigurationError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def reduce(self, inputs: LossInputs, values: torch.Tensor) -> torch.Tensor:
        return reduce_per_decision(inputs, values, self.reduction)


@Loss.register("cross-entropy")
class CrossEntropyLoss(PerDecisionLoss):
    """Negative log-likelihood of the gold output under the task-net's distribution: binary
    cross-entropy for label sets, token cross-entropy for tag sequences, and the log-likelihood
    objective of a CRF task-net.  By default divided by each instance's number of decisions and
    averaged over the batch.

    # Parameters
    reduction : `str`, optional (default = `"instance"`)
        How the batch is reduced: `"instance"`, `"decision"` or `"sum"` (`reduce_per_decision`).
    """

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        distribution = inputs.task_net_distribution("cross-entropy")
        return -self.reduce(inputs, distribution.log_prob(gold_outputs(inputs)).squeeze(1))


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
    """`sum_i weights[i] * losses[i]`; e.g. SEAL's task-net loss: energy + w * cross-entropy.

    With an `anchor` (the index of one of the losses, SEAL's cross-entropy), the gradient the other
    losses send to the task-net's logits is guarded, example by example, against the anchor's: the
    part of it that points against the anchor's gradient is removed, and what remains is scaled
    down to at most `max_gradient_ratio` times the anchor's gradient norm.  The loss value is
    unchanged; only the backward pass differs.

    Why: a loss-net's energy has no fixed scale, and while it is still untrained its gradient is
    large and nearly the same for every example; added as it is, it drowns the example-specific
    signal of cross-entropy and can drive the task-net to one constant prediction (issue #38,
    `benchmarks/tuning/seal_collapse_mechanism.md`).  Guarded, every task-net step descends the
    cross-entropy on every example (the sum's gradient has a positive inner product with the
    anchor's), and the energy steers within that.  Only the logits (per-decision potentials) are
    guarded; a CRF task-net's transitions, shared by the batch, receive the plain sum's gradient.

    # Parameters
    losses : `List[Loss]`
    weights : `List[float]`, optional (default = 1 for each loss)
    anchor : `int`, optional (default = `None`, no guard)
        Index in `losses` of the loss whose gradient guards the others'.
    max_gradient_ratio : `float`, optional (default = `1.0`)
        Cap on the norm of the others' per-example gradient, relative to the anchor's; `None` only
        removes the conflicting part.
    anchor_epochs : `int`, optional (default = `None`, every epoch)
        Guard only during the first `anchor_epochs` epochs of the model's current phase (while the
        loss-net is young, or for seal-static while the task-net first meets the frozen energy);
        after them the plain sum.
    """

    def __init__(
        self,
        losses: List[Loss],
        weights: Optional[List[float]] = None,
        anchor: Optional[int] = None,
        max_gradient_ratio: Optional[float] = 1.0,
        anchor_epochs: Optional[int] = None,
    ) -> None:
        super().__init__()
        weights = weights if weights is not None else [1.0] * len(losses)
        if not losses or len(weights) != len(losses):
            raise ConfigurationError(
                f"weighted-sum needs one weight per loss, got {len(losses)} losses and {len(weights)} weights"
            )
        if not any(weights):
            raise ConfigurationError("weighted-sum needs at least one non-zero weight")
        if anchor is not None and not (0 <= anchor < len(losses) and weights[anchor] != 0):
            raise ConfigurationError(
                f"weighted-sum: anchor {anchor} must be the index of a loss with a non-zero weight "
                f"(0 to {len(losses) - 1})"
            )
        if max_gradient_ratio is not None and max_gradient_ratio <= 0:
            raise ConfigurationError(f"weighted-sum: max_gradient_ratio must be positive, got {max_gradient_ratio}")
        self.losses = torch.nn.ModuleList(losses)
        self.weights = weights
        self.anchor = anchor
        self.max_gradient_ratio = max_gradient_ratio
        self.anchor_epochs = anchor_epochs

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        terms = [(weight, loss) for weight, loss in zip(self.weights, self.losses) if weight != 0]
        logits = inputs.task_logits
        guarding = self.anchor is not None and (self.anchor_epochs is None or inputs.phase_epoch < self.anchor_epochs)
        if not guarding or logits is None or not (logits.requires_grad and torch.is_grad_enabled()):
            return sum(weight * loss(inputs) for weight, loss in terms)
        anchor_loss = self.weights[self.anchor] * self.losses[self.anchor](inputs)
        (anchor_gradient,) = torch.autograd.grad(anchor_loss, logits, retain_graph=True)
        guarded = dataclasses.replace(
            inputs, task_logits=_GuardedGradient.apply(logits, anchor_gradient, self.max_gradient_ratio)
        )
        others = [weight * loss(guarded) for weight, loss in terms if loss is not self.losses[self.anchor]]
        return anchor_loss + sum(others)


def guard_gradient(gradient: torch.Tensor, anchor: torch.Tensor, max_ratio: Optional[float]) -> torch.Tensor:
    """`gradient` `(batch, ...)` guarded per example by `anchor` (same shape): the component along
    `anchor` removed where their inner product is negative, then the norm capped at `max_ratio`
    times the anchor's (`None`: no cap).  An example whose anchor gradient is 0 keeps no gradient
    under a cap."""
    flat, reference = gradient.flatten(1), anchor.flatten(1)
    reference_sq = (reference * reference).sum(1, keepdim=True)
    conflict = (flat * reference).sum(1, keepdim=True).clamp_max(0)
    flat = flat - conflict / reference_sq.clamp_min(torch.finfo(flat.dtype).tiny) * reference
    if max_ratio is not None:
        limit = max_ratio * reference_sq.sqrt()
        norm = flat.norm(dim=1, keepdim=True)
        flat = flat * torch.where(norm > limit, limit / norm.clamp_min(torch.finfo(flat.dtype).tiny), 1.0)
    return flat.view_as(gradient)


class _GuardedGradient(torch.autograd.Function):
    """Identity on the logits whose backward applies `guard_gradient` against a fixed anchor gradient."""

    @staticmethod
    def forward(ctx, logits, anchor_gradient, max_ratio):  # type: ignore[override]
        ctx.save_for_backward(anchor_gradient)
        ctx.max_ratio = max_ratio
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx, gradient):  # type: ignore[override]
        (anchor_gradient,) = ctx.saved_tensors
        return guard_gradient(gradient, anchor_gradient, ctx.max_ratio), None, None
