from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.structured_scores.structured_score import StructuredScore


@StructuredScore.register("sum")
class SumScore(StructuredScore):
    """Several structured scores over the same output, added: e.g. a `linear-chain` transition
    score for neighbouring tags plus a `self-attention-full-sequence` score for the whole sequence,
    or SPEN's `label-mlp` plus explicit `label-pairwise` interactions.

    `score(y) = sum_i weights[i] * scores[i](y, mask, features)`; shapes as in `StructuredScore`.
    Differentiable, and unchanged by padding, exactly when every part is.

    # Parameters
    scores : `List[StructuredScore]`
    weights : `List[float]`, optional (default = one per score)
    """

    def __init__(self, scores: List[StructuredScore], weights: Optional[List[float]] = None) -> None:
        super().__init__()
        weights = [1.0] * len(scores) if weights is None else list(weights)
        if not scores:
            raise ConfigurationError("the 'sum' structured score needs at least one score")
        if len(weights) != len(scores):
            raise ConfigurationError(f"the 'sum' structured score got {len(scores)} scores but {len(weights)} weights")
        self.scores = torch.nn.ModuleList(scores)
        self.weights = weights

    def forward(self, y, mask=None, features=None):
        return sum(weight * score(y, mask, features) for weight, score in zip(self.weights, self.scores))
