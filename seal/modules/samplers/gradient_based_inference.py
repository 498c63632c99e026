from typing import Optional

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles.oracle import OracleValue
from seal.modules.samplers.sampler import Sampler, Samples, SamplingContext


@Sampler.register("gradient-based-inference")
class GradientBasedInference(Sampler):
    """SPEN-style inference: gradient ascent on the score over relaxed outputs,
    `y <- step(y, d/dy [s(x, y) + cost(y)])`, staying in the relaxed set.

    Returns, per instance, the iterate with the highest objective (the start point included), so
    the result never scores below its start.  The result carries no gradient (inference is not
    unrolled); gradients are enabled inside even under `torch.no_grad()`.

    # Parameters
    num_steps : `int`, optional (default = `20`)
    step_size : `float`, optional (default = `0.1`)
    method : `str`, optional (default = `"entropic"`)
        `"entropic"` (exponentiated gradient / mirror ascent) or `"projected"`, see `OutputSpace`.
    init : `str`, optional (default = `"uniform"`)
        `"uniform"` starts at the maximal-entropy output, `"task-net"` at the task-net's output.
    cost_augmented : `OracleValue`, optional
        When given, maximise `s(x, y) + (1 - oracle(y, gold))` (loss-augmented inference for
        structured SVM training); needs the gold labels.
    """

    def __init__(
        self,
        num_steps: int = 20,
        step_size: float = 0.1,
        method: str = "entropic",
        init: str = "uniform",
        cost_augmented: Optional[OracleValue] = None,
    ) -> None:
        if init not in ("uniform", "task-net"):
            raise ConfigurationError(f"GBI init must be 'uniform' or 'task-net', got {init!r}")
        if method not in ("entropic", "projected"):
            raise ConfigurationError(f"GBI method must be 'entropic' or 'projected', got {method!r}")
        self.num_steps = num_steps
        self.step_size = step_size
        self.method = method
        self.init = init
        self.cost_augmented = cost_augmented

    def __call__(self, context: SamplingContext) -> Samples:
        if context.score is None:
            raise ConfigurationError("gradient-based inference needs a score-net")
        if self.cost_augmented is not None and context.labels is None:
            raise ConfigurationError("cost-augmented inference needs gold labels")
        score = context.score.detached()
        space = context.output_space
        y = self._start(context)
        with torch.enable_grad():
            best_y, best_value = y, self._objective(score, y, context).detach()
            for _ in range(self.num_steps):
                y = y.detach().requires_grad_(True)
                value = self._objective(score, y, context)
                (gradient,) = torch.autograd.grad(value.sum(), y)
                stepped = space.ascent_step(y.detach(), gradient, self.step_size, self.method)
                y = space.mask_outputs(stepped, context.mask)
                new_value = self._objective(score, y, context).detach()
                improved = new_value > best_value
                best_value = torch.where(improved, new_value, best_value)
                best_y = torch.where(self._broadcast(improved, y), y.detach(), best_y)
        return Samples(best_y.detach(), None)

    def _start(self, context: SamplingContext) -> torch.Tensor:
        space = context.output_space
        if self.init == "task-net":
            y = context.task_distribution("GBI init 'task-net'", True).marginals().unsqueeze(1)
        else:
            logits = context.score.task_output.logits
            y = space.uniform(logits.detach().unsqueeze(1))
        return space.mask_outputs(y, context.mask)

    def _objective(self, score, y: torch.Tensor, context: SamplingContext) -> torch.Tensor:
        value = score(y)
        if self.cost_augmented is not None:
            value = value + self.cost_augmented.task_loss(y, context.labels, context.mask)
        return value

    @staticmethod
    def _broadcast(flags: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return flags.view(flags.shape + (1,) * (like.dim() - flags.dim()))
