import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.oracles.oracle import OracleValue


def _gold_label_sets(name: str, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`labels` `(batch, num_labels)` as `(batch, 1, num_labels)` in `y`'s dtype, after checking
    that `y` holds label sets (so that a sequence output is an error, not a silent broadcast)."""
    if y.dim() != 3:
        raise ConfigurationError(
            f"the {name!r} oracle scores label sets (batch, num_samples, num_labels), got outputs of "
            f"shape {tuple(y.shape)}; for tag sequences use 'token-accuracy' or 'span-f1'"
        )
    return labels.unsqueeze(1).to(y.dtype)


@OracleValue.register("f1")
class F1Oracle(OracleValue):
    """Per-instance F1 of a label set, relaxed to [0, 1]-valued `y`:
    `2 <y, g> / (sum(y) + sum(g))`, and 1.0 when both `y` and the gold set `g` are empty.
    Shapes as in `OracleValue` with `label_shape == (num_labels,)`."""

    def __call__(self, y, labels, mask=None):
        gold = _gold_label_sets("f1", y, labels)
        overlap = (y * gold).sum(-1)
        total = y.sum(-1) + gold.sum(-1)
        empty = total <= 0
        return torch.where(empty, torch.ones_like(total), 2 * overlap / total.clamp_min(1e-12))


@OracleValue.register("hamming")
class HammingOracle(OracleValue):
    """One minus the Hamming loss of a label set: the mean over labels of
    `y_i g_i + (1 - y_i)(1 - g_i)` (agreement), relaxed to [0, 1]-valued `y`."""

    def __call__(self, y, labels, mask=None):
        gold = _gold_label_sets("hamming", y, labels)
        return (y * gold + (1 - y) * (1 - gold)).mean(-1)
