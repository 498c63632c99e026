from typing import Any, Dict, Optional

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError

from seal.modules.structured_scores.structured_score import StructuredScore
from seal.modules.task_nets.task_nn import TaskNN, TaskOutput


class BoundScore:
    """`ScoreNN` with its feature network already run on one batch of inputs, so that scoring many
    candidate outputs (GBI steps, samples) costs only the label-side computation.

    Calling it with `y` `(batch, num_samples, *label_shape)` returns `(batch, num_samples)`.
    """

    def __init__(self, score_nn: "ScoreNN", task_output: TaskOutput) -> None:
        self.score_nn = score_nn
        self.task_output = task_output

    @property
    def mask(self) -> Optional[torch.BoolTensor]:
        return self.task_output.mask

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self.score_nn.score(self.task_output, y)

    def detached(self) -> "BoundScore":
        """The same scores, without gradient to the feature network's outputs (for inference)."""
        output = TaskOutput(*(t.detach() if torch.is_tensor(t) else t for t in self.task_output))
        return BoundScore(self.score_nn, output)


class ScoreNN(torch.nn.Module, Registrable):
    """The loss-net's score `s(x, y) = local_weight * <logits(x), y> + global_weight * g(y, x)`;
    the structured energy is `E(x, y) = -s(x, y)`.

    The local term is linear in `y`: the sum, over the (unmasked) decisions of `y`, of the logits
    of the score-net's own feature network (a `TaskNN`, separate from the task-net's).  The global
    term is a `StructuredScore`.  Scores are differentiable in `y` and in all parameters.

    # Parameters
    task_nn : `TaskNN`
        Feature network of the local score.
    global_score : `StructuredScore`, optional
        Omit it for a purely local score (a sanity baseline).
    local_weight, global_weight : `float`, optional (default = `1.0`)
    """

    default_implementation = "default"

    def __init__(
        self,
        task_nn: TaskNN,
        global_score: Optional[StructuredScore] = None,
        local_weight: float = 1.0,
        global_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.task_nn = task_nn
        self.global_score = global_score
        self.local_weight = local_weight
        self.global_weight = global_weight

    def bind(self, inputs: Dict[str, Any]) -> BoundScore:
        return BoundScore(self, self.task_nn(**inputs))

    def forward(self, inputs: Dict[str, Any], y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.bind(inputs)(y)

    def score(self, task_output: TaskOutput, y: torch.Tensor) -> torch.Tensor:
        logits = task_output.logits
        if y.shape[:1] + y.shape[2:] != logits.shape:
            raise ConfigurationError(
                f"score-net got outputs of shape {tuple(y.shape)} for logits of shape "
                f"{tuple(logits.shape)}: expected (batch, num_samples, *label_shape)"
            )
        if task_output.mask is not None:  # padded factors never count
            # Selection, not multiplication: any value at padding (even inf or nan) is dropped.
            y = torch.where(task_output.mask.bool().unsqueeze(1).unsqueeze(-1), y, torch.zeros((), dtype=y.dtype))
        local = (logits.unsqueeze(1) * y).flatten(2).sum(-1)
        score = self.local_weight * local
        if self.global_score is not None:
            score = score + self.global_weight * self.global_score(
                y, task_output.mask, task_output.features
            )
        return score


ScoreNN.register("default")(ScoreNN)
