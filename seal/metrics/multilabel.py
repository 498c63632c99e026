"""Multi-label classification metrics as AllenNLP `Metric`s.

Common contract of every metric here:

* `predictions`: float tensor of shape `(batch, num_labels)` holding probabilities (or scores)
  in `[0, 1]`, or hard 0/1 decisions. Thresholded metrics count a label as predicted when
  `prediction >= threshold`.
* `gold_labels`: tensor of the same shape with 0/1 entries (any non-zero entry counts as gold).
* `mask`: optional bool tensor of shape `(batch,)`; instances where it is `False` are ignored.

Every metric accumulates sufficient statistics over calls and sums them across distributed
workers with `dist_reduce_sum` in `get_metric`, so the result does not depend on the number
of workers (given the same instances overall).
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.metrics.metric import Metric

from seal.metrics.ratio import RatioMetric, ratio, reduce_sum


def _prepare(
    predictions: torch.Tensor, gold_labels: torch.Tensor, mask: Optional[torch.BoolTensor]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Detaches, checks shapes and drops masked-out instances.

    Returns `(predictions, gold)` with `gold` as a bool tensor, both `(kept, num_labels)`.
    """
    predictions, gold_labels, mask = Metric.detach_tensors(predictions, gold_labels, mask)
    if predictions.dim() != 2 or predictions.shape != gold_labels.shape:
        raise ConfigurationError(
            "predictions and gold_labels must both have shape (batch, num_labels), got "
            f"predictions {tuple(predictions.shape)} and gold_labels {tuple(gold_labels.shape)}"
        )
    if mask is not None:
        if mask.shape != predictions.shape[:1]:
            raise ConfigurationError(
                f"mask must have shape (batch,) = {tuple(predictions.shape[:1])}, "
                f"got {tuple(mask.shape)}"
            )
        mask = mask.bool()
        predictions, gold_labels = predictions[mask], gold_labels[mask]
    return predictions, gold_labels != 0


class _ThresholdedRatio(RatioMetric):
    """A `RatioMetric` that counts a label as predicted when its probability >= `threshold`."""

    def __init__(self, threshold: float = 0.5) -> None:
        self._threshold = threshold
        super().__init__()


@Metric.register("example-f1")
class ExampleF1(_ThresholdedRatio):
    """Example-based (per-instance) F1, averaged over instances.

    For an instance with predicted label set P (`prediction >= threshold`) and gold label set G,
    F1 = 2|P ∩ G| / (|P| + |G|). **Convention:** an instance with no predicted and no gold
    labels has F1 = 1.0 (like scikit-learn's `f1_score(average="samples", zero_division=1)`).

    `get_metric` returns a float in [0, 1] (0.0 if no instance was seen).
    """

    def __call__(
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        predicted, gold = _prepare(predictions, gold_labels, mask)
        predicted = predicted >= self._threshold
        overlap = (predicted & gold).sum(-1).double()
        sizes = (predicted.sum(-1) + gold.sum(-1)).double()
        f1 = torch.where(sizes > 0, 2 * overlap / sizes.clamp(min=1), torch.ones_like(sizes))
        self._numerator += f1.sum().item()
        self._denominator += f1.numel()


def label_f1(true_pos: torch.Tensor, false_pos: torch.Tensor, false_neg: torch.Tensor) -> torch.Tensor:
    """Per-label F1 from per-label counts (any shape, elementwise); 0 where a label has no gold and
    no predicted positives, the convention of macro-F1 below."""
    denominators = 2 * true_pos + false_pos + false_neg
    return torch.where(denominators > 0, 2 * true_pos / denominators.clamp(min=1), torch.zeros_like(true_pos))


@Metric.register("micro-macro-f1")
class MultilabelMicroMacroF1(Metric):
    """Micro- and macro-averaged F1 over labels, plus micro precision and recall.

    Micro scores pool true/false positives and false negatives over all instances and labels.
    Macro F1 is the unweighted mean over labels of each label's F1 on the whole evaluated set.
    **Convention** (as scikit-learn's `f1_score(average=..., zero_division=0)`): any undefined
    ratio is 0; in particular a label with no gold and no predicted positives has F1 = 0 and
    still counts in the macro mean.

    `get_metric` returns `{"micro_precision", "micro_recall", "micro_f1", "macro_f1"}`,
    all floats in [0, 1] (all 0.0 if nothing was seen).
    """

    supports_distributed = True

    def __init__(self, threshold: float = 0.5) -> None:
        self._threshold = threshold
        self.reset()

    def __call__(
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        predicted, gold = _prepare(predictions, gold_labels, mask)
        predicted = predicted >= self._threshold
        counts = torch.stack(
            [(predicted & gold).sum(0), (predicted & ~gold).sum(0), (~predicted & gold).sum(0)]
        ).cpu()
        if self._counts is None:
            self._counts = torch.zeros_like(counts)
        if self._counts.shape != counts.shape:
            raise ConfigurationError(
                f"num_labels changed between calls: {self._counts.shape[1]} vs {counts.shape[1]}"
            )
        self._counts += counts

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        counts = self._counts if self._counts is not None else torch.zeros(3, 0, dtype=torch.long)
        # All workers must call the all_reduce with the same shape; a worker that saw no data
        # would not know num_labels, so this assumes every worker saw at least one batch.
        true_pos, false_pos, false_neg = reduce_sum(counts).double()
        tp, fp, fn = true_pos.sum().item(), false_pos.sum().item(), false_neg.sum().item()
        per_label_f1 = label_f1(true_pos, false_pos, false_neg)
        result = {
            "micro_precision": ratio(tp, tp + fp),
            "micro_recall": ratio(tp, tp + fn),
            "micro_f1": ratio(2 * tp, 2 * tp + fp + fn),
            "macro_f1": per_label_f1.mean().item() if per_label_f1.numel() else 0.0,
        }
        if reset:
            self.reset()
        return result

    def reset(self) -> None:
        self._counts: Optional[torch.Tensor] = None  # (3, num_labels): TP, FP, FN per label


@Metric.register("hamming-loss")
class HammingLoss(_ThresholdedRatio):
    """Fraction of wrong label decisions over all (instance, label) pairs.

    A decision is wrong when `(prediction >= threshold) != gold`. `get_metric` returns a float
    in [0, 1] (0.0 if nothing was seen); lower is better.
    """

    def __call__(
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        predicted, gold = _prepare(predictions, gold_labels, mask)
        self._numerator += ((predicted >= self._threshold) != gold).sum().item()
        self._denominator += gold.numel()


@Metric.register("precision-at-k")
class PrecisionAtK(Metric):
    """Precision at k on raw scores (no threshold), averaged over instances.

    For each instance, P@k = |top-k scored labels ∩ gold| / k. Ties between equal scores are
    broken by `torch.topk`. Every k must be between 1 and num_labels (else
    `ConfigurationError`). `get_metric` returns `{"p@k": float in [0, 1]}` for each k
    (0.0 if no instance was seen).
    """

    supports_distributed = True

    def __init__(self, k: Union[int, List[int]] = [1, 3, 5]) -> None:  # noqa: B006 (never mutated)
        self._ks = [k] if isinstance(k, int) else list(k)
        if not self._ks or any(value < 1 for value in self._ks):
            raise ConfigurationError(f"k must be positive integers, got {k}")
        self.reset()

    def __call__(
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        scores, gold = _prepare(predictions, gold_labels, mask)
        num_labels = scores.shape[1]
        if max(self._ks) > num_labels:
            raise ConfigurationError(f"k={max(self._ks)} exceeds num_labels={num_labels}")
        ranked = scores.topk(max(self._ks), dim=-1).indices
        hits = gold.gather(-1, ranked).double().cumsum(-1)  # hits[:, k - 1] = gold in top k
        for k in self._ks:
            self._precision_sums[k] += (hits[:, k - 1] / k).sum().item()
        self._count += scores.shape[0]

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        count = reduce_sum(self._count)
        result = {f"p@{k}": ratio(reduce_sum(self._precision_sums[k]), count) for k in self._ks}
        if reset:
            self.reset()
        return result

    def reset(self) -> None:
        self._precision_sums = {k: 0.0 for k in self._ks}
        self._count = 0
