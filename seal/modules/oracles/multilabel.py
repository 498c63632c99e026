import torch

from seal.modules.oracles.oracle import OracleValue


@OracleValue.register("f1")
class F1Oracle(OracleValue):
    """Per-instance F1 of a label set, relaxed to [0, 1]-valued `y`:
    `2 <y, g> / (sum(y) + sum(g))`, and 1.0 when both `y` and the gold set `g` are empty.
    Shapes as in `OracleValue` with `label_shape == (num_labels,)`."""

    def __call__(self, y, labels, mask=None):
        gold = labels.unsqueeze(1).to(y.dtype)
        overlap = (y * gold).sum(-1)
        total = y.sum(-1) + gold.sum(-1)
        empty = total <= 0
        return torch.where(empty, torch.ones_like(total), 2 * overlap / total.clamp_min(1e-12))


@OracleValue.register("hamming")
class HammingOracle(OracleValue):
    """One minus the Hamming loss of a label set: the mean over labels of
    `y_i g_i + (1 - y_i)(1 - g_i)` (agreement), relaxed to [0, 1]-valued `y`."""

    def __call__(self, y, labels, mask=None):
        gold = labels.unsqueeze(1).to(y.dtype)
        return (y * gold + (1 - y) * (1 - gold)).mean(-1)
