from dataclasses import dataclass

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError

from seal.modules.samplers.sampler import SamplingContext
from seal.modules.score_nets.score_nn import BoundScore


@dataclass
class LossInputs(SamplingContext):
    """A `SamplingContext` for one training step.

    In a score-net step the task-net logits are detached; in a task-net step they carry gradient and
    the score-net is bound to the batch (its parameters also receive gradients, which the trainer
    discards).  `labels` are always present.
    """

    def require_score(self, loss: str) -> BoundScore:
        if self.score is None:
            raise ConfigurationError(f"the {loss!r} loss needs a score-net, but the model has none")
        return self.score

    def task_net_distribution(self, loss: str, detach: bool = False, temperature: float = 1.0):
        """`task_distribution` for the loss named `loss` (with gradient unless `detach`)."""
        return self.task_distribution(f"the {loss!r} loss", detach, temperature)


class Loss(torch.nn.Module, Registrable):
    """A training objective of the score-net (loss-net) or of the task-net: a scalar, averaged over
    the batch, to be minimised.  Which parameters it trains is decided by the step it is used in
    (`score_nn_loss` or `task_nn_loss` of the model)."""

    def forward(self, inputs: LossInputs) -> torch.Tensor:  # type: ignore[override]
        raise NotImplementedError


def gold_outputs(inputs: LossInputs) -> torch.Tensor:
    """The gold outputs as one sample each: `(batch, 1, *label_shape)`, masked, float."""
    y = inputs.labels.unsqueeze(1).to(torch.get_default_dtype())
    return inputs.output_space.mask_outputs(y, inputs.mask)


def task_probabilities(inputs: LossInputs, loss: str) -> torch.Tensor:
    """The task-net's relaxed outputs (its distribution's marginals, 0 at padding) as one sample
    each, with gradient: `(batch, 1, *label_shape)`."""
    return inputs.task_net_distribution(loss).marginals().unsqueeze(1)
