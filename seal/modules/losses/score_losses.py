from typing import Optional

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError

from seal.modules.losses.loss import Loss, LossInputs, gold_outputs
from seal.modules.oracles.multilabel import F1Oracle
from seal.modules.oracles.oracle import OracleValue
from seal.modules.samplers.basic import DiscreteSampler, MultiSampler, TaskNetSampler
from seal.modules.samplers.sampler import Sampler


@Loss.register("nce-ranking")
class NCERankingLoss(Loss):
    """Noise-contrastive ranking loss (Ma & Collins, 2018) with the task-net as the noise
    distribution q.  With gold `y*` and K samples `y_k ~ q`, and `r(y) = s(x, y) - log q(y)` (the
    proposal correction):

        loss = -log( exp r(y*) / (exp r(y*) + sum_k exp r(y_k)) ),  averaged over the batch.

    Trains the score-net to rank the gold output above the task-net's samples, correcting for how
    likely q makes each of them.  q's logits are detached.

    # Parameters
    num_samples : `int`, optional (default = `10`)
        K, the number of discrete samples drawn from the task-net per instance.
    temperature : `float`, optional (default = `1.0`)
        The noise is the task-net's distribution at this temperature (`logits / temperature`), for
        the samples and for every `log q`, the gold's included; above 1 the samples contain the
        outputs the task-net finds unlikely more often, below 1 they stay near its thresholded
        prediction, so the ranking contrasts the gold with the mistakes the task-net is about to make.
    proposal_correction : `bool`, optional (default = `True`)
        With `False`, `r(y) = s(x, y)`: a plain ranking of the gold above the task-net's samples
        (the `use_distance: false` variant of the SEAL code).  The score-net then no longer
        estimates a log-density; it learns to reward what the gold has and the task-net's samples
        lack.  With the correction, a gold output the task-net finds unlikely wins the ranking by
        its `-log q(y*)` alone, so the score-net gets almost no gradient for exactly the labels the
        task-net misses.
    """

    def __init__(self, num_samples: int = 10, temperature: float = 1.0, proposal_correction: bool = True) -> None:
        super().__init__()
        self.sampler = DiscreteSampler(num_samples, temperature)
        self.temperature = temperature
        self.proposal_correction = proposal_correction

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        score = inputs.require_score("nce-ranking")
        gold = gold_outputs(inputs)
        gold_log_q = inputs.task_net_distribution("nce-ranking", True, self.temperature).log_prob(gold)
        samples = self.sampler(inputs)
        y = torch.cat([gold, samples.y], dim=1)
        ranking_logits = score(y)
        if self.proposal_correction:
            ranking_logits = ranking_logits - torch.cat([gold_log_q, samples.log_q], dim=1)
        return -torch.log_softmax(ranking_logits, dim=1)[:, 0].mean()


@Loss.register("margin")
class MarginLoss(Loss):
    """Structured SVM (margin-rescaled hinge) with cost augmentation by the task loss:

        loss = max_n [ Delta(y_n, y*) - s(x, y*) + s(x, y_n) ]_+ ,  averaged over the batch,

    where `y_n` are the sampler's outputs (the task-net's output by default, or cost-augmented
    GBI for SPEN) and `Delta = 1 - oracle`.  With `perceptron: true` the cost term is dropped.

    # Parameters
    sampler : `Sampler`, optional (default = `task-net`)
    oracle : `OracleValue`, optional (default = `f1`)
    margin_scale : `float`, optional (default = `1.0`)
        Multiplies Delta.
    perceptron : `bool`, optional (default = `False`)
    """

    def __init__(
        self,
        sampler: Optional[Sampler] = None,
        oracle: Optional[OracleValue] = None,
        margin_scale: float = 1.0,
        perceptron: bool = False,
    ) -> None:
        super().__init__()
        self.sampler = sampler or TaskNetSampler()
        self.oracle = oracle or F1Oracle()
        self.margin_scale = margin_scale
        self.perceptron = perceptron

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        score = inputs.require_score("margin")
        samples = self.sampler(inputs).y
        scores = score(torch.cat([samples, gold_outputs(inputs)], dim=1))  # one call: samples, then the gold
        violation = scores[:, :-1] - scores[:, -1:]
        if not self.perceptron:
            violation = violation + self.margin_scale * self.oracle.task_loss(samples, inputs.labels, inputs.mask)
        return F.relu(violation).max(dim=1).values.mean()


@Loss.register("dvn")
class DVNLoss(Loss):
    """Deep value network regression (Gygli et al., 2017): the score, through a sigmoid, is
    regressed onto the oracle value of each sample with binary cross-entropy:

        loss = mean_{b, n} BCE( sigmoid(s(x, y_n)), oracle(y_n, y*) ).

    # Parameters
    sampler : `Sampler`, optional (default = the task-net's output plus 5 discrete samples)
    oracle : `OracleValue`, optional (default = `f1`)
    """

    def __init__(self, sampler: Optional[Sampler] = None, oracle: Optional[OracleValue] = None) -> None:
        super().__init__()
        self.sampler = sampler or MultiSampler([TaskNetSampler(), DiscreteSampler(5)])
        self.oracle = oracle or F1Oracle()

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        score = inputs.require_score("dvn")
        samples = self.sampler(inputs).y
        targets = self.oracle(samples, inputs.labels, inputs.mask).detach()
        if targets.min() < 0 or targets.max() > 1:
            raise ConfigurationError("dvn needs an oracle with values in [0, 1]")
        return F.binary_cross_entropy_with_logits(score(samples), targets)
