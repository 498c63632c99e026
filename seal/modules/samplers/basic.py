import dataclasses
from typing import List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.samplers.sampler import Sampler, Samples, SamplingContext
from seal.modules.score_nets.score_nn import BoundScore


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


@Sampler.register("crop-average")
class CropAverage(Sampler):
    """DVN's test-time crop averaging (Gygli et al., 2017): runs `sampler` on overlapping windows of
    a 2-D output (a mask: `label_shape == (height, width)`) and averages, per pixel, the outputs of
    the windows that cover it.

    Inside a window the sampler sees the window only: the task-net's logits, the gold labels and the
    score-net's bound logits and features are cut to it (each has height and width as its last two
    dimensions), so the loss-net's global score judges the window's mask as DVN's energy judges a
    crop.  Windows start every `stride` pixels and the last one ends at the border, so every pixel
    is covered; an image no larger than `crop_size` is one window (the sampler's output unchanged).

    Returns `y` `(batch, num_samples, height, width)` without log-probabilities (an average of
    windows' outputs is not a sample of the task-net).

    # Parameters
    sampler : `Sampler`
        Run on every window, e.g. `gradient-based-inference`.
    crop_size : `Tuple[int, int]`
        (height, width) of a window, each >= 1.
    stride : `int`, optional (default = `4`)
        Pixels between the starts of neighbouring windows, >= 1.
    """

    def __init__(self, sampler: Sampler, crop_size: Tuple[int, int], stride: int = 4) -> None:
        crop_size = tuple(crop_size)
        if len(crop_size) != 2 or min(crop_size) < 1 or stride < 1:
            raise ConfigurationError(f"'crop-average' needs crop_size [height, width] >= 1 and stride >= 1, "
                                     f"got crop_size={list(crop_size)}, stride={stride}")
        self.sampler = sampler
        self.crop_size = crop_size
        self.stride = stride

    def __call__(self, context: SamplingContext) -> Samples:
        score = _require(context, "score", "crop-average")
        logits = score.task_output.logits
        if logits.dim() != 3 or context.mask is not None or context.task_transitions is not None:
            raise ConfigurationError(f"'crop-average' crops 2-D outputs without padding (label_shape (height, "
                                     f"width), e.g. 'binary-mask'); got logits of shape {tuple(logits.shape)}")
        height, width = logits.shape[-2:]
        total, count = None, logits.new_zeros(height, width)
        for top in window_starts(height, self.crop_size[0], self.stride):
            for left in window_starts(width, self.crop_size[1], self.stride):
                rows = slice(top, top + min(self.crop_size[0], height))
                columns = slice(left, left + min(self.crop_size[1], width))
                y = self.sampler(_crop_context(context, rows, columns)).y.detach()
                if total is None:
                    total = y.new_zeros(y.shape[:2] + (height, width))
                total[..., rows, columns] += y
                count[rows, columns] += 1
        return Samples(total / count.to(total.dtype), None)


def window_starts(size: int, window: int, stride: int) -> List[int]:
    """Start offsets of windows of `window` (clipped to `size`) every `stride` along `size`, the last
    one ending at `size`: e.g. size 32, window 24, stride 5 -> [0, 5, 8]."""
    last = max(size - window, 0)
    return sorted(set(range(0, last + 1, stride)) | {last})


def _crop_context(context: SamplingContext, rows: slice, columns: slice) -> SamplingContext:
    """`context` with every per-pixel tensor cut to the window `rows` x `columns`."""
    output = context.score.task_output
    size = tuple(output.logits.shape[-2:])

    def crop(tensor: Optional[torch.Tensor], name: str) -> Optional[torch.Tensor]:
        if tensor is None:
            return None
        if tuple(tensor.shape[-2:]) != size:
            raise ConfigurationError(f"'crop-average' needs {name} with (height, width) = {size} as its last two "
                                     f"dimensions, got shape {tuple(tensor.shape)}")
        return tensor[..., rows, columns]

    cropped = output._replace(logits=crop(output.logits, "the score-net's logits"),
                              features=crop(output.features, "the score-net's features"))
    return dataclasses.replace(context, task_logits=crop(context.task_logits, "the task-net's logits"),
                               labels=crop(context.labels, "the labels"),
                               score=BoundScore(context.score.score_nn, cropped))
