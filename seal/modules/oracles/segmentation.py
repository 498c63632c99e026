import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles.oracle import OracleValue


def _gold_masks(name: str, y: torch.Tensor, labels: torch.Tensor, mask) -> torch.Tensor:
    """`labels` `(batch, height, width)` as `(batch, 1, height, width)` in `y`'s dtype, after
    checking that `y` holds masks of that size (so that another output is an error, not a silent
    broadcast)."""
    if y.dim() != 4 or labels.dim() != 3 or y.shape[:1] + y.shape[2:] != labels.shape:
        raise ConfigurationError(
            f"the {name!r} oracle scores binary masks: y (batch, num_samples, height, width) and labels "
            f"(batch, height, width), got y {tuple(y.shape)} and labels {tuple(labels.shape)}"
        )
    if mask is not None:
        raise ConfigurationError(f"the {name!r} oracle scores whole masks: it takes no padding mask")
    return labels.unsqueeze(1).to(y.dtype)


def _iou(intersection: torch.Tensor, union: torch.Tensor) -> torch.Tensor:
    """`intersection / union`, 1 where the union is empty (empty prediction, empty gold)."""
    empty = union <= 0
    return torch.where(empty, 1.0, intersection / torch.where(empty, 1.0, union))


@OracleValue.register("soft-iou")
class SoftIoUOracle(OracleValue):
    """Foreground intersection over union of a mask, relaxed to [0, 1]-valued `y` as in deep value
    networks (Gygli et al., 2017): `sum_p min(y_p, g_p) / sum_p max(y_p, g_p)`, 1.0 when both `y`
    and the gold mask `g` are empty.  Equal to the IoU on discrete masks.  Shapes as in
    `OracleValue` with `label_shape == (height, width)`; differentiable in `y` (almost everywhere)."""

    def __call__(self, y, labels, mask=None):
        gold = _gold_masks("soft-iou", y, labels, mask)
        intersection = torch.minimum(y, gold).flatten(2).sum(-1)
        union = torch.maximum(y, gold).flatten(2).sum(-1)
        return _iou(intersection, union)


@OracleValue.register("hard-iou")
class HardIoUOracle(OracleValue):
    """Foreground intersection over union of the mask `y >= threshold` with the gold mask, 1.0 when
    both are empty: the discrete measure of relaxed outputs.  Shapes as in `OracleValue` with
    `label_shape == (height, width)`.  Not differentiable (a step function of `y`): use it for DVN
    targets, not in cost-augmented inference.

    # Parameters
    threshold : `float`, optional (default = `0.5`)
    """

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ConfigurationError(f"hard-iou threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold

    def __call__(self, y, labels, mask=None):
        gold = _gold_masks("hard-iou", y, labels, mask) != 0
        predicted = y.detach() >= self.threshold
        intersection = (predicted & gold).flatten(2).sum(-1).to(y.dtype)
        union = (predicted | gold).flatten(2).sum(-1).to(y.dtype)
        return _iou(intersection, union)
