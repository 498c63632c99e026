"""The distribution over outputs a task-net defines, as an object of its own.

Every implementation is a Gibbs distribution `p(y) = exp(score(y) - log Z)` over discrete outputs
`y` of shape `label_shape` (one-hot over the last axis, or 0/1 entries for independent binary
labels), for each of the `B` examples of a batch at once.  Discrete outputs are float tensors in the
potentials' dtype, as the rest of the project represents `y`; values at padded decisions are 0.
"""
import math
from abc import ABC, abstractmethod
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError


class OutputDistribution(ABC):
    """A batch of distributions `p(y) = exp(score(y) - log Z)` over discrete outputs.

    Conventions for every method (`B` examples, `N` outputs per example, `label_shape` e.g. `(L,)`
    for `L` binary labels or `(T, K)` for `T` positions with `K` tags):

    - `mask` is `(B, *label_shape[:-1])` bool (`True` for real decisions, padding last) or `None`
      (no padding).  Padded decisions contribute nothing to scores, probabilities or entropies,
      and every output tensor (marginals, samples, argmax) is 0 there.
    - A discrete `y` is one-hot over the last axis (or 0/1 per label for binary labels).
    - A relaxed `y` (each decision a distribution over its values, e.g. per-position softmaxes) is
      read as the fully factorised distribution `q(y) = prod_d y_d`: `score` and `log_prob` are
      linear in each decision's `y_d`, so on relaxed `y` they return `E_{y' ~ q}[score(y')]` and
      `E_{y' ~ q}[log p(y')]` (the multilinear extension; `-log_prob(q) - H(q)` is `KL(q || p)`).

    Gradients flow from `log_partition`, `marginals`, `score`, `log_prob` and `entropy` to the
    potentials; `sample` and `argmax` return constants.
    """

    #: `(B, *label_shape[:-1])` bool, or `None`: which decisions are real.
    mask: Optional[torch.BoolTensor]

    #: Whether the decisions are independent: then `argmax` is every decision's most probable value,
    #: read off the `marginals`; for a structured distribution it is not.
    factorised: bool = False

    @property
    @abstractmethod
    def batch_size(self) -> int:
        """`B`, the number of distributions in the batch."""

    @property
    @abstractmethod
    def label_shape(self) -> Tuple[int, ...]:
        """The shape of one output `y` (without batch and sample axes)."""

    @abstractmethod
    def score(self, y: torch.Tensor) -> torch.Tensor:
        """`y` `(B, N, *label_shape)` -> the unnormalised log-probabilities `score(y)` `(B, N)`,
        real-valued (multilinear in the decisions of `y`, see the class docstring)."""

    @abstractmethod
    def log_partition(self) -> torch.Tensor:
        """`log Z = log sum_y exp(score(y))` `(B,)`, real-valued."""

    @abstractmethod
    def marginals(self) -> torch.Tensor:
        """Per-decision probabilities `(B, *label_shape)` in [0, 1]: `P(y_d = 1)` per binary label,
        or per position the distribution over its tags (rows sum to 1; 0 at padding)."""

    @abstractmethod
    def sample(self, num_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """`num_samples` independent draws `y ~ p` per example, `(B, N, *label_shape)`, discrete, no
        gradient.  `generator` makes the draws reproducible."""

    @abstractmethod
    def argmax(self) -> torch.Tensor:
        """The most probable output per example, `(B, *label_shape)`, discrete, no gradient."""

    @abstractmethod
    def entropy(self) -> torch.Tensor:
        """`H(p) = log Z - E_p[score(y)]` `(B,)`, in nats, >= 0."""

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """`y` `(B, N, *label_shape)` -> `log p(y) = score(y) - log Z` `(B, N)`, <= 0 for discrete
        `y`; for relaxed `y`, the expected log-probability (see the class docstring)."""
        return self.score(y) - self.log_partition().unsqueeze(1)

    def _check_outputs(self, y: torch.Tensor) -> None:
        """A `ConfigurationError` unless `y` is `(B, N, *label_shape)`."""
        expected = (self.batch_size, "N", *self.label_shape)
        if y.dim() != len(expected) or y.size(0) != self.batch_size or tuple(y.shape[2:]) != self.label_shape:
            raise ConfigurationError(
                f"{type(self).__name__} expects outputs y of shape {expected}, got {tuple(y.shape)}"
            )


def check_prefix_mask(name: str, mask: Optional[torch.Tensor], shape: Tuple[int, int],
                      device: torch.device) -> torch.BoolTensor:
    """`mask` as a `(batch, length)` bool tensor (all `True` when `None`), after checking its shape and
    that every row is a non-empty prefix (real positions first, at least one)."""
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if tuple(mask.shape) != tuple(shape):
        raise ConfigurationError(f"{name} expects a mask of shape (batch, length) = {tuple(shape)}, "
                                 f"got {tuple(mask.shape)}")
    mask = mask.bool()
    if shape[1] > 0 and (not bool(mask[:, 0].all()) or bool((mask[:, 1:] & ~mask[:, :-1]).any())):
        raise ConfigurationError(f"{name} expects every mask row to be a non-empty prefix "
                                 "(True for the real positions, first; at least one)")
    return mask


def finite(x: torch.Tensor) -> torch.Tensor:
    """`x` with `+-inf` replaced by 0: where a potential is `-inf` its probability is 0, so its
    product with a probability must be 0, not `nan`."""
    return torch.where(torch.isfinite(x), x, x.new_zeros(()))


def masked_inner(y: torch.Tensor, potentials: torch.Tensor, mask: Optional[torch.BoolTensor]) -> torch.Tensor:
    """`sum_d <y_d, potentials_d>` over the real decisions `d`: `y` `(B, N, *shape)`, `potentials`
    `(B, *shape)`, `mask` `(B, *shape[:-1])` or `None` -> `(B, N)`; linear in `y` (its gradient is
    the potentials, also where `y` is 0).  A `-inf` potential (a forbidden value) makes the result
    `-inf` where `y` puts weight on it and adds nothing elsewhere; values of `y` at padding are
    discarded whatever they are (selection, not multiplication)."""
    if mask is not None:
        y = torch.where(mask.unsqueeze(1).unsqueeze(-1), y, y.new_zeros(()))
    return with_forbidden(lambda p: (y * p.unsqueeze(1)).flatten(2).sum(-1), potentials)


def with_forbidden(linear, potentials: torch.Tensor) -> torch.Tensor:
    """`linear(potentials)` for a function linear in its argument with nonnegative weights, where
    `-inf` potentials count as 0 except that any positive weight on one makes the result `-inf`."""
    total = linear(finite(potentials))
    forbidden = torch.isneginf(potentials)
    if bool(forbidden.any()):
        total = torch.where(linear(forbidden.to(total.dtype)) > 0, total.new_tensor(-math.inf), total)
    return total
