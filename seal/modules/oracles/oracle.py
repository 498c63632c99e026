from typing import Optional

import torch
from allennlp.common import Registrable


class OracleValue(Registrable):
    """How good a candidate output is compared with the gold one: a value in [0, 1], 1 for the
    gold output itself.  The task loss is `1 - value`.

    `__call__(y, labels, mask)`: `y` `(batch, num_samples, *label_shape)` relaxed or discrete,
    `labels` `(batch, *label_shape)` discrete, `mask` as in `OutputSpace`; returns
    `(batch, num_samples)`.  Oracle values are differentiable in `y` (relaxed versions of the
    discrete measure), so they can serve in cost-augmented inference.
    """

    def __call__(
        self, y: torch.Tensor, labels: torch.Tensor, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def task_loss(
        self, y: torch.Tensor, labels: torch.Tensor, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        return 1.0 - self(y, labels, mask)
