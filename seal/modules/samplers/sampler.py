from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from allennlp.common import Registrable

from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.score_nets.score_nn import BoundScore


@dataclass
class SamplingContext:
    """Everything a `Sampler` may draw on for one batch.

    task_logits : `(batch, *label_shape)` task-net logits, or `None` for models without a task-net.
    labels : `(batch, *label_shape)` gold outputs, or `None` at prediction time.
    mask : `(batch, *label_shape[:-1])` or `None`.
    score : the score-net bound to this batch, or `None` for models without one.
    """

    output_space: OutputSpace
    task_logits: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    mask: Optional[torch.BoolTensor] = None
    score: Optional[BoundScore] = None


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
