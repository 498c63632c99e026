import math
from typing import Optional

import torch

from seal.modules.losses.loss import Loss, LossInputs, gold_outputs
from seal.modules.oracles.multilabel import F1Oracle
from seal.modules.oracles.oracle import OracleValue
from seal.modules.samplers.basic import DiscreteSampler
from seal.modules.samplers.sampler import Sampler, Samples


@Loss.register("contrastive-divergence")
class ContrastiveDivergenceLoss(Loss):
    """The contrastive loss of implicit energy training (Shankar & Piratla, 2022): a soft-max margin
    between the gold output's energy and the energies of negatives drawn from the inference
    network (the task-net), each weighted by its task loss.  With energy `E = -s`, gold `y*`, K
    negatives `y_k` from the sampler and `Delta_k = margin_scale * (1 - oracle(y_k, y*))`:

        loss = log( 1 + (1/K) sum_k exp(Delta_k + E(x, y*) - E(x, y_k)) ),  averaged over the batch,

    i.e. `-E(y*)` against the log-mean of the negatives' Boltzmann weights `exp(-E(y_k))`, each
    weighted by `exp(Delta_k)` (softmax-margin: a negative counts more the worse it is).  It
    pushes the gold's energy below every negative's by a margin growing with its task loss, and its
    gradient weights each negative by its share of the sum, so the violating negatives dominate.
    With one negative it is the soft margin `log(1 + exp(Delta + E(y*) - E(y_hat)))`, the smooth
    form of the structured hinge `[Delta + E(y*) - E(y_hat)]_+` that `margin` minimises; with the
    task-net's relaxed output as that negative (`sampler: {type: "task-net"}`) it is InfNet's
    objective, smoothed.  The mean over negatives keeps the loss's scale independent of K.  (The
    formula is written from the paper's description of `L_CD` - negatives from the inference
    network weighted by their task loss, one negative giving a soft margin - not checked against
    code of the authors, which is not public.)

    Derivative with respect to the task-net (for the implicit hypergradient, whose outer step reads
    the task-net with gradient; in an ordinary score-net step the task-net is detached and this
    adds nothing): relaxed negatives are differentiated through (pathwise); discrete negatives,
    which are constants, by the score-function estimator `(loss - baseline) * d/dpsi sum_k log q(y_k)`
    with the mean loss of the other examples of the batch as baseline (unbiased).  The loss's value
    is the same either way.

    # Parameters
    sampler : `Sampler`, optional (default = `discrete` with 10 samples)
        The negatives.
    oracle : `OracleValue`, optional (default = `f1`)
    margin_scale : `float`, optional (default = `1.0`)
        Multiplies Delta (0 gives the margin-free soft ranking `log(1 + mean_k exp(E(y*) - E(y_k)))`).
    """

    def __init__(
        self, sampler: Optional[Sampler] = None, oracle: Optional[OracleValue] = None, margin_scale: float = 1.0
    ) -> None:
        super().__init__()
        self.sampler = sampler or DiscreteSampler(10)
        self.oracle = oracle or F1Oracle()
        self.margin_scale = margin_scale

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        score = inputs.require_score("contrastive-divergence")
        samples = self.sampler(inputs)
        scores = score(torch.cat([samples.y, gold_outputs(inputs)], dim=1))  # the negatives, then the gold
        # Delta_k + E(y*) - E(y_k), with E = -s
        margins = self.margin_scale * self.oracle.task_loss(samples.y, inputs.labels, inputs.mask)
        margins = margins + scores[:, :-1] - scores[:, -1:]
        per_example = soft_margin(margins)
        return (per_example + _score_function_term(per_example, samples)).mean()


def soft_margin(margins: torch.Tensor) -> torch.Tensor:
    """`log(1 + mean_k exp(margins[:, k]))` `(batch,)` for `margins` `(batch, K)`, computed stably."""
    zero = margins.new_zeros(margins.size(0), 1)
    return torch.logsumexp(torch.cat([zero, margins - math.log(margins.size(1))], dim=1), dim=1)


def _score_function_term(per_example: torch.Tensor, samples: Samples) -> torch.Tensor:
    """Zero-valued `(batch,)` whose gradient is the score-function estimate of how the expected
    loss changes with the distribution the constant negatives were drawn from; zero without
    gradient when the negatives are differentiable themselves or their log-probabilities are not."""
    log_q = samples.log_q
    if samples.y.requires_grad or log_q is None or not log_q.requires_grad:
        return per_example.new_zeros(per_example.shape)
    losses = per_example.detach()
    size = losses.numel()
    baseline = (losses.sum() - losses) / (size - 1) if size > 1 else torch.zeros_like(losses)
    joint = log_q.sum(1)
    return (losses - baseline) * (joint - joint.detach())
