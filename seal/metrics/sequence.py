"""Tag-sequence metrics as AllenNLP `Metric`s (span F1 is AllenNLP's `SpanBasedF1Measure`).

Common contract: `predictions` `(batch, seq_len, num_tags)` scores or probabilities (the argmax
is the predicted tag), `gold_labels` `(batch, seq_len)` tag indices, `mask` `(batch, seq_len)`
bool, `True` at real positions (`None`: every position is real).  Sums are reduced across
distributed workers.
"""
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.metrics.metric import Metric

from seal.metrics.ratio import RatioMetric


def _correct_and_mask(
    predictions: torch.Tensor, gold_labels: torch.Tensor, mask: Optional[torch.BoolTensor]
) -> Tuple[torch.Tensor, torch.Tensor]:
    predictions, gold_labels, mask = Metric.detach_tensors(predictions, gold_labels, mask)
    if predictions.dim() != 3 or predictions.shape[:2] != gold_labels.shape:
        raise ConfigurationError(
            "predictions must be (batch, seq_len, num_tags) and gold_labels (batch, seq_len), got "
            f"{tuple(predictions.shape)} and {tuple(gold_labels.shape)}"
        )
    mask = torch.ones_like(gold_labels, dtype=torch.bool) if mask is None else mask.bool()
    return predictions.argmax(-1) == gold_labels, mask


@Metric.register("token-accuracy")
class TokenAccuracy(RatioMetric):
    """Fraction of real positions whose predicted tag is the gold one (OCR: letter accuracy)."""

    def __call__(self, predictions, gold_labels, mask=None) -> None:
        correct, mask = _correct_and_mask(predictions, gold_labels, mask)
        self._numerator += (correct & mask).sum().item()
        self._denominator += mask.sum().item()


@Metric.register("whole-sequence-accuracy")
class WholeSequenceAccuracy(RatioMetric):
    """Fraction of sequences with every real position tagged correctly (OCR: word accuracy).
    Sequences without real positions are not counted."""

    def __call__(self, predictions, gold_labels, mask=None) -> None:
        correct, mask = _correct_and_mask(predictions, gold_labels, mask)
        non_empty = mask.any(-1)
        all_correct = (correct | ~mask).all(-1)
        self._numerator += (all_correct & non_empty).sum().item()
        self._denominator += non_empty.sum().item()
