from typing import Optional

import torch
from allennlp.common import Registrable


class StructuredScore(torch.nn.Module, Registrable):
    """A global score over whole (relaxed) outputs: the term of a structured energy that couples
    the decisions of one output (energy = -score).

    `forward(y, mask, features)`:
    - `y`: `(batch, num_samples, *label_shape)`, relaxed outputs (entries in [0, 1]);
    - `mask`: `(batch, *label_shape[:-1])` bool or `None` (see `OutputSpace`); padded factors must
      not change the score;
    - `features`: the `TaskOutput.features` of the score-net's feature network, for scores
      conditioned on `x` (`None` if unused);
    returns `(batch, num_samples)` real scores, differentiable in `y` and in the parameters.
    """

    def forward(  # type: ignore[override]
        self,
        y: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
        features: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        raise NotImplementedError
