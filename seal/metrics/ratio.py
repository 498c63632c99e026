import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric


def ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, or 0.0 when the denominator is 0."""
    return float(numerator) / float(denominator) if denominator else 0.0


def reduce_sum(value):
    """Sums a Python number (in float64, avoiding float32 rounding in all_reduce) or a tensor
    across distributed workers; the value itself outside distributed training."""
    if torch.is_tensor(value):
        return dist_reduce_sum(value)
    return dist_reduce_sum(torch.tensor(value, dtype=torch.float64)).item()


class RatioMetric(Metric):
    """A metric whose value is `numerator / denominator`, both summed over calls and over
    distributed workers, so the result does not depend on the number of workers.  Subclasses add
    to `_numerator` and `_denominator` in `__call__`."""

    supports_distributed = True

    def __init__(self) -> None:
        self.reset()

    def get_metric(self, reset: bool = False) -> float:
        result = ratio(reduce_sum(self._numerator), reduce_sum(self._denominator))
        if reset:
            self.reset()
        return result

    def reset(self) -> None:
        self._numerator = 0.0
        self._denominator = 0
