from typing import List

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.samplers.sampler import Sampler, Samples, SamplingContext


def _require(context: SamplingContext, field: str, sampler: str):
    value = getattr(context, field)
    if value is None:
        raise ConfigurationError(f"the {sampler!r} sampler needs {field}, which this model does not provide")
    return value


@Sampler.register("task-net")
class TaskNetSampler(Sampler):
    """The task-net's relaxed output (the marginals of its distribution), one sample per instance,
    with its expected log-probability under that distribution.

    # Parameters
    detach : `bool`, optional (default = `True`)
        When `False` the sample keeps its gradient to the task-net's parameters.
    """

    def __init__(self, detach: bool = True) -> None:
        self.detach = detach

    def __call__(self, context: SamplingContext) -> Samples:
        distribution = context.task_distribution("the 'task-net' sampler", self.detach)
        y = distribution.marginals().unsqueeze(1)
        return Samples(y, distribution.log_prob(y))


@Sampler.register("discrete")
class DiscreteSampler(Sampler):
    """`num_samples` discrete outputs drawn from the task-net's distribution (independent labels or
    tags, or a CRF's exact samples), with their log-probabilities.

    # Parameters
    num_samples : `int`, optional (default = `10`)
    temperature : `float`, optional (default = `1.0`)
        Samples are drawn from the distribution of `logits / temperature` (and their log-probabilities
        are taken under it): above 1 flatter than the task-net's, so unlikely outputs (rare labels,
        rare tags) are drawn more often; below 1 sharper, so the samples stay closer to the
        task-net's thresholded prediction and differ from it where it is least certain.
    """

    def __init__(self, num_samples: int = 10, temperature: float = 1.0) -> None:
        if num_samples < 1:
            raise ConfigurationError(f"num_samples must be positive, got {num_samples}")
        if not temperature > 0:
            raise ConfigurationError(f"sampling temperature must be positive, got {temperature}")
        self.num_samples = num_samples
        self.temperature = temperature

    def __call__(self, context: SamplingContext) -> Samples:
        distribution = context.task_distribution("the 'discrete' sampler", True, self.temperature)
        y = distribution.sample(self.num_samples)
        return Samples(y, distribution.log_prob(y))


@Sampler.register("ground-truth")
class GroundTruthSampler(Sampler):
    """The gold output, one sample per instance (log-probability under the task-net if it exists)."""

    def __call__(self, context: SamplingContext) -> Samples:
        labels = _require(context, "labels", "ground-truth")
        y = labels.unsqueeze(1).to(torch.get_default_dtype())
        y = context.output_space.mask_outputs(y, context.mask)
        log_q = None
        if context.task_logits is not None:
            log_q = context.task_distribution("the 'ground-truth' sampler", True).log_prob(y)
        return Samples(y, log_q)


@Sampler.register("multi")
class MultiSampler(Sampler):
    """Concatenates the samples of several samplers along the sample dimension (log-probabilities
    are kept only if every sampler gives them)."""

    def __init__(self, samplers: List[Sampler]) -> None:
        if not samplers:
            raise ConfigurationError("the 'multi' sampler needs at least one sampler")
        self.samplers = samplers

    def __call__(self, context: SamplingContext) -> Samples:
        parts = [sampler(context) for sampler in self.samplers]
        y = torch.cat([part.y for part in parts], dim=1)
        if any(part.log_q is None for part in parts):
            return Samples(y, None)
        return Samples(y, torch.cat([part.log_q for part in parts], dim=1))
