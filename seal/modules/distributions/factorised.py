"""Fully factorised distributions: independent binary labels, and a categorical per position.

Both are the exponential family of their logits: `score(y) = <y, logits>` summed over the real
decisions and `log Z` the sum of the per-decision log-normalisers, so `log_prob`, `entropy` and
`marginals` follow from one definition shared with the structured distributions (a linear-chain
CRF with zero transitions is exactly a `Categorical`).
"""
from abc import abstractmethod
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.distributions.distribution import OutputDistribution, masked_inner, with_forbidden


class _Factorised(OutputDistribution):
    """Independent decisions with logits `potentials` `(B, *label_shape)`."""

    factorised = True

    def __init__(self, potentials: torch.Tensor, mask: Optional[torch.BoolTensor] = None) -> None:
        self.potentials = potentials
        self.mask = mask

    @property
    def batch_size(self) -> int:
        return self.potentials.size(0)

    @property
    def label_shape(self) -> Tuple[int, ...]:
        return tuple(self.potentials.shape[1:])

    @abstractmethod
    def _decision_log_partition(self) -> torch.Tensor:
        """Each decision's log-normaliser, `(B, *label_shape)` for binary labels, `(B, T)` per position."""

    @abstractmethod
    def _decision_log_probs(self, y: torch.Tensor) -> torch.Tensor:
        """`log p(y_d)` of each decision of `y` `(B, N, *label_shape)`, computed stably per
        decision: `(B, N, *label_shape)` for binary labels, `(B, N, T)` per position (any value at
        padding)."""

    def _real(self, values: torch.Tensor) -> torch.Tensor:
        """`values` (one per decision, or per decision and value) with 0 at padded decisions."""
        if self.mask is None:
            return values
        mask = self.mask if values.dim() == self.mask.dim() else self.mask.unsqueeze(-1)
        return torch.where(mask, values, values.new_zeros(()))

    def score(self, y: torch.Tensor) -> torch.Tensor:
        self._check_outputs(y)
        return masked_inner(y, self.potentials, self.mask)

    def log_partition(self) -> torch.Tensor:
        return self._real(self._decision_log_partition()).flatten(1).sum(-1)

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """`score(y) - log Z`, summed from the per-decision log-probabilities (no cancellation
        between two large sums)."""
        self._check_outputs(y)
        per_decision = self._decision_log_probs(y)
        if self.mask is not None:
            per_decision = torch.where(self.mask.unsqueeze(1), per_decision, per_decision.new_zeros(()))
        return per_decision.flatten(2).sum(-1)

    def entropy(self) -> torch.Tensor:
        """`-E_p[log p(y)]`: the log-probability of the marginals (see the class docstring of
        `OutputDistribution`); a value of probability 0 adds nothing."""
        return -self.log_prob(self.marginals().unsqueeze(1)).squeeze(1)


class Bernoulli(_Factorised):
    """Independent binary labels: `p(y) = prod_l sigmoid(logits_l)^y_l (1 - sigmoid(logits_l))^(1 - y_l)`.

    logits : `(B, *label_shape)`, finite, with `len(label_shape) == label_dims`: `(B, L)` for a
        label set (`label_dims = 1`), `(B, H, W)` for a binary mask with a label per pixel
        (`label_dims = 2`).  An output `y` is `label_shape` of 0/1 entries.
        `log Z = sum_l softplus(logits_l)` over every label.  There is no padding (`mask` is `None`).
    label_dims : `int`, optional (default = `1`)
        The number of label axes the logits must have, so that logits of the wrong rank are an
        error rather than read as more labels.
    """

    def __init__(self, logits: torch.Tensor, label_dims: int = 1) -> None:
        if label_dims < 1 or logits.dim() != label_dims + 1:
            axes = "num_labels" if label_dims == 1 else "height, width" if label_dims == 2 else f"{label_dims} axes"
            raise ConfigurationError(f"Bernoulli expects logits of shape (batch, {axes}), "
                                     f"got {tuple(logits.shape)}")
        super().__init__(logits)

    def _decision_log_partition(self) -> torch.Tensor:
        return torch.nn.functional.softplus(self.potentials)

    def _decision_log_probs(self, y: torch.Tensor) -> torch.Tensor:
        logits = self.potentials.unsqueeze(1).expand_as(y)
        return -torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")

    def marginals(self) -> torch.Tensor:
        """`P(y_l = 1)` `(B, *label_shape)`."""
        return torch.sigmoid(self.potentials)

    def sample(self, num_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        with torch.no_grad():
            probabilities = self.marginals().unsqueeze(1).expand(-1, num_samples, *self.label_shape)
            return torch.bernoulli(probabilities, generator=generator)

    def argmax(self) -> torch.Tensor:
        """1 where `logits > 0` (a label at probability exactly 1/2 is off)."""
        return (self.potentials.detach() > 0).to(self.potentials.dtype)


class Categorical(_Factorised):
    """An independent categorical distribution per position: `p(y) = prod_t softmax(logits_t)[y_t]`.

    logits : `(B, T, K)`; a `-inf` entry forbids that value (each real position needs one finite).
        `label_shape` is `(T, K)`; an output is one-hot per position.  `log Z = sum_t logsumexp_k`.
    mask : `(B, T)` bool or `None`; any pattern (not only a prefix), so per-pixel labels of an image
        are this distribution over its `T = height * width` flattened pixels, padded pixels masked.
        Logits at padding are ignored, whatever their value.
    """

    def __init__(self, logits: torch.Tensor, mask: Optional[torch.BoolTensor] = None) -> None:
        if logits.dim() != 3:
            raise ConfigurationError(f"Categorical expects logits of shape (batch, length, num_tags), "
                                     f"got {tuple(logits.shape)}")
        if mask is not None and tuple(mask.shape) != tuple(logits.shape[:2]):
            raise ConfigurationError(f"Categorical expects a mask of shape (batch, length) = "
                                     f"{tuple(logits.shape[:2])}, got {tuple(mask.shape)}")
        if mask is not None:  # padding is selected away (any value there, even nan, gets no gradient)
            mask = mask.bool()
            logits = torch.where(mask.unsqueeze(-1), logits, logits.new_zeros(()))
        super().__init__(logits, mask)

    def _decision_log_partition(self) -> torch.Tensor:
        return torch.logsumexp(self.potentials, dim=-1)

    def _decision_log_probs(self, y: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(self.potentials, dim=-1)
        return with_forbidden(lambda p: (y * p.unsqueeze(1)).sum(-1), log_p)

    def marginals(self) -> torch.Tensor:
        """`softmax(logits)` per position `(B, T, K)`, 0 at padding."""
        return self._real(torch.softmax(self.potentials, dim=-1))

    def sample(self, num_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        with torch.no_grad():
            batch, length, num_tags = self.potentials.shape
            probabilities = torch.softmax(self.potentials, dim=-1).reshape(-1, num_tags)
            tags = torch.multinomial(probabilities, num_samples, replacement=True, generator=generator)
            tags = tags.view(batch, length, num_samples).transpose(1, 2)  # (B, N, T)
            return self._one_hot(tags)

    def argmax(self) -> torch.Tensor:
        with torch.no_grad():
            return self._one_hot(self.potentials.argmax(-1).unsqueeze(1)).squeeze(1)

    def _one_hot(self, tags: torch.Tensor) -> torch.Tensor:
        """Tag indices `(B, N, T)` -> one-hot `(B, N, T, K)` in the logits' dtype, 0 at padding."""
        y = torch.nn.functional.one_hot(tags, self.potentials.size(-1)).to(self.potentials.dtype)
        if self.mask is None:
            return y
        return y * self.mask[:, None, :, None]
