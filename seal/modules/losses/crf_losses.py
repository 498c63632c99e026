"""The objectives of a linear-chain CRF task-net besides its log-likelihood (which is
`cross-entropy` of a CRF): cross-entropy on its exact or mean-field marginals, and the structured
SVM.  Each is per decision (divided by the number of unpadded tokens) and averaged over the batch
by default; `reduction` chooses otherwise (`reduce_per_decision`)."""
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.distributions import LinearChainCRF
from seal.modules.losses.loss import Loss, LossInputs, gold_outputs
from seal.modules.losses.task_losses import PerDecisionLoss


def task_crf(inputs: LossInputs, loss: str) -> LinearChainCRF:
    """The task-net's distribution, with gradient, which must be a linear-chain CRF."""
    distribution = inputs.task_net_distribution(loss)
    if not isinstance(distribution, LinearChainCRF):
        raise ConfigurationError(
            f"the {loss!r} loss needs a CRF task-net (one returning transitions, e.g. 'linear-chain-crf'); "
            f"this one defines a {type(distribution).__name__}"
        )
    return distribution


def marginal_log_likelihoods(inputs: LossInputs, marginals: torch.Tensor) -> torch.Tensor:
    """`sum_t log q_t(y*_t)` of each instance `(batch,)`, for per-position marginals `q`
    `(batch, seq_len, num_tags)` (0 at padding, where the gold is 0 too)."""
    gold = gold_outputs(inputs).squeeze(1)
    log_q = torch.log(marginals.clamp_min(torch.finfo(marginals.dtype).tiny))
    return (gold * log_q).sum((1, 2))


@Loss.register("crf-marginal-cross-entropy")
class CRFMarginalCrossEntropyLoss(PerDecisionLoss):
    """Token cross-entropy of the gold tags under the CRF's exact marginals (forward-backward):
    trains each position's marginal, not the joint likelihood of the sequence.

    # Parameters
    reduction : `str`, optional (default = `"instance"`)
        `reduce_per_decision`.
    """

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        crf = task_crf(inputs, "crf-marginal-cross-entropy")
        return -self.reduce(inputs, marginal_log_likelihoods(inputs, crf.marginals()))


@Loss.register("crf-mean-field-cross-entropy")
class CRFMeanFieldCrossEntropyLoss(PerDecisionLoss):
    """Token cross-entropy of the gold tags under the CRF's mean-field marginals, the iterations
    unrolled (differentiated through), as CRF-as-RNN.

    # Parameters
    iterations : `int`, optional (default = `5`)
    damping : `float`, optional (default = `0.0`)
    updates : `str`, optional (default = `"parallel"`)
        `"parallel"` or `"alternating"`, see `LinearChainCRF.mean_field_marginals`.
    reduction : `str`, optional (default = `"instance"`)
        `reduce_per_decision`.
    """

    def __init__(self, iterations: int = 5, damping: float = 0.0, updates: str = "parallel",
                 reduction: str = "instance") -> None:
        super().__init__(reduction)
        if iterations < 0:
            raise ConfigurationError(f"crf-mean-field-cross-entropy: iterations must be >= 0, got {iterations}")
        self.iterations = iterations
        self.damping = damping
        self.updates = updates

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        crf = task_crf(inputs, "crf-mean-field-cross-entropy")
        marginals = crf.mean_field_marginals(self.iterations, self.damping, self.updates)
        return -self.reduce(inputs, marginal_log_likelihoods(inputs, marginals))


@Loss.register("crf-ssvm")
class CRFStructuredHingeLoss(PerDecisionLoss):
    """Structured SVM with Hamming-loss augmentation:
    `max_y [score(y) + w * Hamming(y, y*)] - score(y*)` (>= 0), the maximum by loss-augmented
    Viterbi (restricted to legal moves with `constrained_decoding`), per decision.

    # Parameters
    hamming_weight : `float`, optional (default = `1.0`)
        `w`, the margin each wrong tag asks for.
    reduction : `str`, optional (default = `"instance"`)
        `reduce_per_decision`.
    """

    def __init__(self, hamming_weight: float = 1.0, reduction: str = "instance") -> None:
        super().__init__(reduction)
        if hamming_weight < 0:
            raise ConfigurationError(f"crf-ssvm: hamming_weight must be >= 0, got {hamming_weight}")
        self.hamming_weight = hamming_weight

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        crf = task_crf(inputs, "crf-ssvm")
        gold = gold_outputs(inputs)
        violator = crf.loss_augmented_argmax(gold.squeeze(1), self.hamming_weight).unsqueeze(1)
        hamming = crf.mask.sum(-1) - (violator * gold).sum((1, 2, 3))
        margin = crf.score(violator).squeeze(1) + self.hamming_weight * hamming - crf.score(gold).squeeze(1)
        return self.reduce(inputs, margin)
