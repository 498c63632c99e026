"""Binary segmentation metrics as AllenNLP `Metric`s.

Common contract of every metric here:

* `predictions`: float tensor `(batch, height, width)` of foreground probabilities in [0, 1], or
  hard 0/1 masks; a pixel is predicted foreground when `prediction >= threshold`.
* `gold_labels`: tensor of the same shape, 0/1 (any non-zero entry is foreground).
* `mask`: optional bool tensor of the same shape, `True` at the pixels that count (`None`: all).

Counts are accumulated over calls and summed across distributed workers in `get_metric`, so the
result does not depend on the number of workers.  `get_metric` returns a float in [0, 1], 0.0
before any image was seen.
"""
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.metrics.metric import Metric

from seal.metrics.ratio import RatioMetric, ratio, reduce_sum


def _prepare(
    predictions: torch.Tensor, gold_labels: torch.Tensor, mask: Optional[torch.BoolTensor], threshold: float
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(predicted, gold, mask)` as bool tensors `(batch, height, width)`, after checking shapes."""
    predictions, gold_labels, mask = Metric.detach_tensors(predictions, gold_labels, mask)
    if predictions.dim() != 3 or predictions.shape != gold_labels.shape:
        raise ConfigurationError(
            "segmentation metrics expect predictions and gold_labels of shape (batch, height, width), got "
            f"predictions {tuple(predictions.shape)} and gold_labels {tuple(gold_labels.shape)}"
        )
    if mask is None:
        mask = torch.ones_like(gold_labels, dtype=torch.bool)
    elif mask.shape != gold_labels.shape:
        raise ConfigurationError(f"segmentation metrics expect a mask of shape {tuple(gold_labels.shape)}, "
                                 f"got {tuple(mask.shape)}")
    mask = mask.bool()
    return (predictions >= threshold) & mask, (gold_labels != 0) & mask, mask


def intersection_and_union(predicted: torch.Tensor, gold: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Foreground pixel counts per image of bool masks `(batch, height, width)`: `(batch,)` each."""
    return (predicted & gold).flatten(1).sum(-1), (predicted | gold).flatten(1).sum(-1)


class _Thresholded(RatioMetric):
    def __init__(self, threshold: float = 0.5) -> None:
        self._threshold = threshold
        super().__init__()


@Metric.register("mean-iou")
class MeanIoU(_Thresholded):
    """Foreground intersection over union per image, averaged over images (the measure of the
    Weizmann-horse papers).  **Convention:** an image with no gold and no predicted foreground has
    IoU 1.0 (nothing to find, nothing found)."""

    def __call__(self, predictions, gold_labels, mask=None) -> None:
        predicted, gold, _ = _prepare(predictions, gold_labels, mask, self._threshold)
        intersection, union = intersection_and_union(predicted, gold)
        iou = torch.where(union > 0, intersection.double() / union.clamp_min(1), 1.0)
        self._numerator += iou.sum().item()
        self._denominator += iou.numel()


@Metric.register("global-iou")
class GlobalIoU(Metric):
    """Foreground intersection over union pooled over every pixel of every image seen: large
    objects weigh more than in `MeanIoU`.  1.0 when images were seen but none has gold or predicted
    foreground."""

    supports_distributed = True

    def __init__(self, threshold: float = 0.5) -> None:
        self._threshold = threshold
        self.reset()

    def __call__(self, predictions, gold_labels, mask=None) -> None:
        predicted, gold, _ = _prepare(predictions, gold_labels, mask, self._threshold)
        intersection, union = intersection_and_union(predicted, gold)
        self._intersection += intersection.sum().item()
        self._union += union.sum().item()
        self._images += predicted.size(0)

    def get_metric(self, reset: bool = False) -> float:
        intersection, union = reduce_sum(self._intersection), reduce_sum(self._union)
        images = reduce_sum(self._images)
        result = ratio(intersection, union) if union else (1.0 if images else 0.0)
        if reset:
            self.reset()
        return result

    def reset(self) -> None:
        self._intersection = 0.0
        self._union = 0.0
        self._images = 0.0


@Metric.register("pixel-accuracy")
class PixelAccuracy(_Thresholded):
    """Fraction of (unmasked) pixels whose thresholded prediction is the gold label."""

    def __call__(self, predictions, gold_labels, mask=None) -> None:
        predicted, gold, mask = _prepare(predictions, gold_labels, mask, self._threshold)
        self._numerator += ((predicted == gold) & mask).sum().item()
        self._denominator += mask.sum().item()
