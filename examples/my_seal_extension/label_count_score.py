from typing import Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.structured_scores.structured_score import StructuredScore


@StructuredScore.register("my-label-count")
class LabelCountScore(StructuredScore):
    """A learned score of the number of active labels: a table `table[0..max_count]`, read at the
    (fractional) count `c = clamp(sum_i y_i, 0, max_count)` of a relaxed output by linear
    interpolation:

        score(y) = (1 - (c - k)) * table[k] + (c - k) * table[k + 1],   k = min(floor(c), max_count - 1).

    For a discrete `y` this is `table[number of labels]` (counts above `max_count` read
    `table[max_count]`).  The score is piecewise linear in `y`: its gradient w.r.t. every `y_i` is
    the slope `table[k + 1] - table[k]` of the segment `c` lies in (zero beyond `max_count`), defined
    everywhere except at integer counts (a.e. differentiable, as `relu` is).  The table starts at
    zero and is learned with the score-net.

    Shapes as in `StructuredScore`: `y` `(batch, num_samples, *label_shape)` -> `(batch, num_samples)`;
    all entries of `y` outside padded factors (`mask`) are counted; `features` are unused.

    # Parameters
    vocab : `Vocabulary`
        Unused: the table's size does not depend on the number of labels.
    max_count : `int`, optional (default = `10`)
        Largest count with its own entry (at least 1).
    """

    def __init__(self, vocab: Vocabulary, max_count: int = 10) -> None:
        super().__init__()
        if max_count < 1:
            raise ConfigurationError(f"my-label-count: max_count must be at least 1, got {max_count}")
        self.max_count = max_count
        self.table = torch.nn.Parameter(torch.zeros(max_count + 1))

    def forward(  # type: ignore[override]
        self,
        y: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
        features: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if mask is not None:  # mask (batch, *label_shape[:-1]) -> (batch, 1, *label_shape[:-1], 1)
            y = y * mask.unsqueeze(1).unsqueeze(-1).to(y.dtype)
        count = y.flatten(2).sum(-1).clamp(0.0, float(self.max_count))  # (batch, num_samples)
        lower = count.detach().floor().long().clamp(max=self.max_count - 1)
        weight = count - lower.to(count.dtype)  # in [0, 1], carries the gradient to y
        table = self.table.to(count.dtype)
        return (1.0 - weight) * table[lower] + weight * table[lower + 1]
