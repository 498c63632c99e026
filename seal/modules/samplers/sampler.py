from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError

from seal.modules.distributions import OutputDistribution
from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.score_nets.score_nn import BoundScore
from seal.modules.task_nets.task_nn import TaskOutput


@dataclass
class SamplingContext:
    """Everything a `Sampler` may draw on for one batch.

    task_logits : `(batch, *label_shape)` task-net logits, or `None` for models without a task-net.
    labels : `(batch, *label_shape)` gold outputs, or `None` at prediction time.
    mask : `(batch, *label_shape[:-1])` or `None`.
    score : the score-net bound to this batch, or `None` for models without one.
    task_transitions : a CRF task-net's pairwise potentials `(transitions, start, end)` (see
        `TaskOutput`), or `None` for a task-net with independent decisions.
    epoch : the model's current training epoch (0-based), for what changes over training.
    phase_epoch : the epoch counted from the start of the model's current training phase (0-based):
        `epoch` for one-phase models; for a two-phase model (seal-static, infnet) in its second
        phase, the epochs since that phase began, i.e. since the step's loss came into use.

    Samplers and losses read the task-net through `task_distribution`, never its raw logits.
    """

    output_space: OutputSpace
    task_logits: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    mask: Optional[torch.BoolTensor] = None
    score: Optional[BoundScore] = None
    task_transitions: Optional[Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]] = None
    epoch: int = 0
    phase_epoch: int = 0

    def task_distribution(self, user: str, detach: bool, temperature: float = 1.0) -> OutputDistribution:
        """The distribution over outputs the task-net defines on this batch (at `temperature`: every
        potential divided by it), without gradient when `detach`.  `user` (e.g. "the 'discrete'
        sampler") names who needs it in the error raised for a model without a task-net."""
        if self.task_logits is None:
            raise ConfigurationError(f"{user} needs task_logits, the output of a task-net, but the model has none")
        output = TaskOutput(self.task_logits, self.mask, None, *(self.task_transitions or ()))
        if detach:
            output = output.with_potentials(torch.Tensor.detach)
        if temperature != 1.0:
            output = output.with_potentials(lambda potential: potential / temperature)
        return self.output_space.distribution(output)


class Samples(NamedTuple):
    """Candidate outputs `y` `(batch, num_samples, *label_shape)` and, when known, their
    log-probability `log_q` `(batch, num_samples)` under the task-net's distribution."""

    y: torch.Tensor
    log_q: Optional[torch.Tensor] = None


class Sampler(Registrable):
    """Produces candidate outputs for a batch: the task-net's relaxed output, discrete samples drawn
    from it, gradient-based inference on the score, the ground truth, or several of these.

    Samples carry no gradient unless a sampler says otherwise (`task-net` with `detach: false`).
    """

    def __call__(self, context: SamplingContext) -> Samples:
        raise NotImplementedError
