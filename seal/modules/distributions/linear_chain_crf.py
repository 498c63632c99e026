"""Linear-chain conditional random field over tag sequences, batched and masked.

`score(y) = start[y_0] + sum_t unary[t, y_t] + sum_t transitions[y_t, y_{t+1}] + end[y_last]` over
the real positions of each sequence, and `p(y) = exp(score(y) - log Z)`.

The sum-product recursions run in log space, one step per position for the whole batch.  A step
`log sum_i exp(v_i + T_ij)` is computed as `m + c_j + log(exp(v - m) @ exp(T - c))` with
`m = max_i v_i` and `c_j = max_i T_ij`: a matrix product instead of a `(B, K, K)` exponential.
It is exact unless a sum `exp(v - m) @ exp(T - c)` falls near the floating-point underflow (a
tag whose every predecessor is ~44 nats, in float32, below the best); the recursion checks that
once at the end and then redoes the pass with `(B, K, K)` log-sum-exps, so every result is exact.
The gradient of `log Z` (the node and pairwise marginals) is a hand-written forward-backward pass.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules.conditional_random_field import allowed_transitions as allennlp_allowed_transitions
from torch.autograd.function import once_differentiable

from seal.modules.distributions.distribution import (
    OutputDistribution,
    check_prefix_mask,
    finite,
    masked_inner,
    with_forbidden,
)


def _underflow_margin(dtype: torch.dtype) -> float:
    """Half the log of the smallest normal number (-43.7 in float32): a scaled sum below
    `exp(margin)`, or a scale factor above `exp(-margin)`, sends a step to the exact path."""
    return 0.5 * math.log(torch.finfo(dtype).tiny)


class _Steps:
    """One orientation of the transitions, ready for the recursion's steps.

    `oriented` is `(K_from, K_to)` shared or `(B, T-1, K_from, K_to)` per position; the step from
    position `t` maps log-weights `v` over `from` tags `(B, K)` to
    `log sum_from exp(v + T_t) + after_t` over `to` tags `(B, K)`, `after` `(B, T-1, K)` or `None`.
    """

    def __init__(self, oriented: torch.Tensor, exact: bool, after: Optional[torch.Tensor] = None) -> None:
        self.shared = oriented.dim() == 2
        self.exact = exact
        self.oriented = oriented
        if exact:
            shift = after
        else:
            self.offset = finite(oriented.amax(dim=-2).detach())  # c_j; exact to subtract (it cancels)
            self.scaled = torch.exp(oriented - self.offset.unsqueeze(-2))
            shift = self.offset if after is None else self.offset + after
        self.shifts = shift.unbind(1) if shift is not None and shift.dim() == 3 else None
        self.shift = shift
        self.sums: List[torch.Tensor] = []  # the scaled sums, for the underflow check

    def at(self, t: int, v: torch.Tensor) -> torch.Tensor:
        shift = self.shift if self.shifts is None else self.shifts[t]
        if self.exact:
            result = torch.logsumexp(v.unsqueeze(-1) + (self.oriented if self.shared else self.oriented[:, t]), dim=-2)
            return result if shift is None else result + shift
        top = v.amax(dim=-1, keepdim=True).detach()
        weights = torch.exp(v - top)
        if self.shared:
            sums = weights @ self.scaled
        else:
            sums = torch.bmm(weights.unsqueeze(1), self.scaled[:, t]).squeeze(1)
        self.sums.append(sums)
        return torch.log(sums).add_(top).add_(shift)

    def underflowed(self, real: torch.BoolTensor) -> bool:
        """Whether a scaled sum at a `real` step `(B, steps)` fell below the margin."""
        if self.exact or not self.sums:
            return False
        sums = torch.stack(self.sums, dim=1)  # (B, steps, K)
        return bool(((sums < math.exp(_underflow_margin(sums.dtype))) & real.unsqueeze(-1)).any())


def _real_everywhere(mask: torch.BoolTensor) -> int:
    """The number of leading positions that are real in every sequence (they need no masking)."""
    return int(mask.sum(1).min())


def _forward_scan(unary, transitions, start, mask, exact: bool = False) -> torch.Tensor:
    """`alpha[b, t, k]` = log of the summed `exp(score)` of the prefixes `y_0..y_t` with `y_t = k`
    (start and unaries up to `t` included) `(B, T, K)`; at padding it repeats the last real
    position's, so `alpha[:, -1]` is the final one of every sequence."""
    steps = _Steps(transitions, exact, after=unary[:, 1:])
    everywhere = _real_everywhere(mask)
    alpha = unary[:, 0] + start
    alphas = [alpha]
    for t in range(1, unary.size(1)):
        new = steps.at(t - 1, alpha)
        alpha = new if t < everywhere else torch.where(mask[:, t, None], new, alpha)
        alphas.append(alpha)
    if steps.underflowed(mask[:, 1:]):
        return _forward_scan(unary, transitions, start, mask, exact=True)
    return torch.stack(alphas, dim=1)


def _backward_scan(unary, transitions, end, mask, exact: bool = False) -> torch.Tensor:
    """`beta[b, t, k]` = log of the summed `exp(score)` of the suffixes after `t` given `y_t = k`
    (end included, unary at `t` excluded) `(B, T, K)`; `end` at the last real position and after."""
    steps = _Steps(transitions.transpose(-1, -2), exact)
    everywhere = _real_everywhere(mask)
    beta = end.expand(unary.size(0), -1)
    betas = [beta]
    for t in range(unary.size(1) - 2, -1, -1):
        new = steps.at(t, unary[:, t + 1] + beta)
        beta = new if t + 1 < everywhere else torch.where(mask[:, t + 1, None], new, end)
        betas.append(beta)
    steps.sums.reverse()
    if steps.underflowed(mask[:, 1:]):
        return _backward_scan(unary, transitions, end, mask, exact=True)
    return torch.stack(betas[::-1], dim=1)


def _node_marginals(alphas, betas, log_z, mask) -> torch.Tensor:
    """`P(y_t = k)` `(B, T, K)`, 0 at padding."""
    marginals = torch.exp(alphas + betas - log_z[:, None, None])
    return torch.where(mask.unsqueeze(-1), marginals, marginals.new_zeros(()))


def _pairwise_marginals(alphas, betas, unary, transitions, mask, log_z) -> torch.Tensor:
    """`P(y_t = i, y_{t+1} = j)` `(B, T-1, K, K)`, 0 where `t + 1` is padding."""
    following = unary[:, 1:] + betas[:, 1:]
    log_p = alphas[:, :-1, :, None] + transitions + following[:, :, None, :] - log_z[:, None, None, None]
    return torch.where(mask[:, 1:, None, None], torch.exp(log_p), log_p.new_zeros(()))


def _transition_counts(alphas, betas, unary, transitions, mask, log_z, weights=None) -> torch.Tensor:
    """Expected transition counts `sum_t P(y_t = i, y_{t+1} = j)` of shared `(K, K)` transitions:
    per sequence `(B, K, K)`, or `sum_b weights[b] * counts[b]` `(K, K)` when `weights` `(B,)` is
    given.  One matrix product over all positions, with the scaling of the recursion's steps
    (every scaled factor in [0, 1]); a scale factor near overflow sends it to the exact loop."""
    steps = _Steps(transitions, exact=False)
    previous = alphas[:, :-1]
    following = unary[:, 1:] + betas[:, 1:] + steps.offset
    previous_top = previous.amax(-1, keepdim=True).detach()
    following_top = following.amax(-1, keepdim=True).detach()
    log_scale = previous_top + following_top - log_z[:, None, None]  # (B, T-1, 1)
    real = mask[:, 1:, None]
    if bool(((log_scale > -_underflow_margin(log_scale.dtype)) & real).any()):
        return _transition_counts_exact(alphas, betas, unary, transitions, mask, log_z, weights)
    scale = torch.where(real, torch.exp(log_scale), log_scale.new_zeros(()))
    if weights is not None:
        scale = scale * weights[:, None, None]
    left = torch.exp(previous - previous_top) * scale
    right = torch.exp(following - following_top)
    if weights is None:
        return torch.bmm(left.transpose(1, 2), right) * steps.scaled
    num_tags = left.size(-1)
    return (left.reshape(-1, num_tags).t() @ right.reshape(-1, num_tags)) * steps.scaled


def _transition_counts_exact(alphas, betas, unary, transitions, mask, log_z, weights=None) -> torch.Tensor:
    """`_transition_counts` position by position from `(B, K, K)` log-probabilities."""
    total = 0
    for t in range(unary.size(1) - 1):
        log_p = (alphas[:, t, :, None] + transitions + (unary[:, t + 1] + betas[:, t + 1])[:, None, :]
                 - log_z[:, None, None])
        total = total + torch.where(mask[:, t + 1, None, None], torch.exp(log_p), log_p.new_zeros(()))
    if weights is None:
        return total
    return (total * weights[:, None, None]).sum(0)


def _last_positions(mask: torch.BoolTensor) -> torch.Tensor:
    """The index of each sequence's last real position `(B,)`."""
    return mask.sum(1) - 1


class _LogPartition(torch.autograd.Function):
    """`log Z` `(B,)` of `(unary, transitions, start, end, mask)`; its backward is the forward-backward
    pass: node marginals for `unary`, pairwise marginals (or their sum) for `transitions`."""

    @staticmethod
    def forward(ctx, unary, transitions, start, end, mask):
        alphas = _forward_scan(unary, transitions, start, mask)
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=-1)
        ctx.save_for_backward(unary, transitions, end, mask, alphas, log_z)
        return log_z

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        unary, transitions, end, mask, alphas, log_z = ctx.saved_tensors
        betas = _backward_scan(unary, transitions, end, mask)
        nodes = _node_marginals(alphas, betas, log_z, mask) * grad[:, None, None]
        if not ctx.needs_input_grad[1]:
            grad_transitions = None
        elif transitions.dim() == 2:
            grad_transitions = _transition_counts(alphas, betas, unary, transitions, mask, log_z, grad)
        else:
            pairwise = _pairwise_marginals(alphas, betas, unary, transitions, mask, log_z)
            grad_transitions = pairwise * grad[:, None, None, None]
        grad_start = nodes[:, 0].sum(0) if ctx.needs_input_grad[2] else None
        last = _last_positions(mask)
        grad_end = nodes[torch.arange(len(last)), last].sum(0) if ctx.needs_input_grad[3] else None
        return nodes, grad_transitions, grad_start, grad_end, None


class _Traced(NamedTuple):
    """The recursions with autograd history (for differentiable marginals and entropy)."""

    alphas: torch.Tensor
    betas: torch.Tensor
    log_z: torch.Tensor


def allowed_moves(label_encoding: str, labels: Dict[int, str]) -> Tuple[torch.Tensor, ...]:
    """The legal moves of a span encoding (`"BIO"`, `"IOB1"`, `"BIOUL"`, `"BMES"`) over `labels`
    (index -> tag), as AllenNLP's `allowed_transitions`: `(allowed (K, K), allowed_start (K,),
    allowed_end (K,))` bool, for `LinearChainCRF`'s constrained decoding."""
    num_tags = len(labels)
    allowed = torch.zeros(num_tags + 2, num_tags + 2, dtype=torch.bool)
    for i, j in allennlp_allowed_transitions(label_encoding, labels):  # start = K, end = K + 1
        allowed[i, j] = True
    return allowed[:num_tags, :num_tags], allowed[num_tags, :num_tags], allowed[:num_tags, num_tags + 1]


class LinearChainCRF(OutputDistribution):
    """A batch of linear-chain CRFs over tag sequences (`label_shape` `(T, K)`, one-hot per position).

    unary : `(B, T, K)`, the per-position tag scores (e.g. a tagger's logits).
    transitions : `(K, K)` shared, or `(B, T-1, K, K)` per position (e.g. produced by a network);
        entry `[i, j]` (`[b, t, i, j]`) scores tag `j` right after tag `i` (after position `t`).
    mask : `(B, T)` bool, a prefix per row (real positions first, at least one); `None` = no padding.
        Potentials at padding are ignored, whatever their value.
    start, end : `(K,)` or `None` (0): scores of the first and of the last real tag.
    allowed_transitions, allowed_start, allowed_end : `(K, K)`, `(K,)`, `(K,)` bool or `None` (all
        allowed): the legal moves for `argmax` and `loss_augmented_argmax` only (forbidden ones
        score `-inf` there), as AllenNLP's `allowed_transitions`; see `allowed_moves`.  The
        distribution itself (log Z, marginals, samples) is that of the potentials: to forbid moves
        in it, give them `-inf` potentials.

    Potentials may be `-inf` (a forbidden tag or move) as long as every sequence keeps a legal
    path; `log Z` and its gradient stay exact then, while the gradients of `marginals` and
    `entropy` are not defined at tags that can never be reached.  Mean field needs finite ones.
    """

    def __init__(
        self,
        unary: torch.Tensor,
        transitions: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
        start: Optional[torch.Tensor] = None,
        end: Optional[torch.Tensor] = None,
        allowed_transitions: Optional[torch.BoolTensor] = None,
        allowed_start: Optional[torch.BoolTensor] = None,
        allowed_end: Optional[torch.BoolTensor] = None,
    ) -> None:
        self._check_potentials(unary, transitions, start, end)
        batch, length, num_tags = unary.shape
        self.mask = check_prefix_mask("LinearChainCRF", mask, (batch, length), unary.device)
        # Padding is selected away once (any value there, even nan, is discarded and gets no gradient).
        self.unary = torch.where(self.mask.unsqueeze(-1), unary, unary.new_zeros(()))
        if transitions.dim() == 4:
            transitions = torch.where(self.mask[:, 1:, None, None], transitions, transitions.new_zeros(()))
        self.transitions = transitions
        self.start = unary.new_zeros(num_tags) if start is None else start
        self.end = unary.new_zeros(num_tags) if end is None else end
        self.allowed = (allowed_transitions, allowed_start, allowed_end)
        self._log_z: Optional[torch.Tensor] = None
        self._traced: Optional[_Traced] = None

    @staticmethod
    def _check_potentials(unary, transitions, start, end) -> None:
        if unary.dim() != 3:
            raise ConfigurationError(f"LinearChainCRF expects unary of shape (batch, length, num_tags), "
                                     f"got {tuple(unary.shape)}")
        batch, length, num_tags = unary.shape
        shared, per_position = (num_tags, num_tags), (batch, max(length - 1, 0), num_tags, num_tags)
        if tuple(transitions.shape) not in (shared, per_position):
            raise ConfigurationError(f"LinearChainCRF expects transitions of shape {shared} or {per_position}, "
                                     f"got {tuple(transitions.shape)}")
        for name, vector in (("start", start), ("end", end)):
            if vector is not None and tuple(vector.shape) != (num_tags,):
                raise ConfigurationError(f"LinearChainCRF expects {name} of shape ({num_tags},), "
                                         f"got {tuple(vector.shape)}")

    @property
    def batch_size(self) -> int:
        return self.unary.size(0)

    @property
    def label_shape(self) -> Tuple[int, ...]:
        return tuple(self.unary.shape[1:])

    # -- sum-product ---------------------------------------------------------------------------

    def _recursions(self) -> _Traced:
        """Forward and backward recursions with autograd history, computed once."""
        if self._traced is None:
            alphas = _forward_scan(self.unary, self.transitions, self.start, self.mask)
            betas = _backward_scan(self.unary, self.transitions, self.end, self.mask)
            log_z = torch.logsumexp(alphas[:, -1] + self.end, dim=-1)
            self._traced = _Traced(alphas, betas, log_z)
        return self._traced

    def log_partition(self) -> torch.Tensor:
        """`log Z` `(B,)` by the forward algorithm.  Its gradient (the marginals) is a hand-written
        forward-backward pass, not differentiable again; after `marginals` or `entropy` it is the
        log Z of their recursions, differentiable to any order."""
        if self._traced is not None:
            return self._traced.log_z
        if self._log_z is None:
            self._log_z = _LogPartition.apply(self.unary, self.transitions, self.start, self.end, self.mask)
        return self._log_z

    def marginals(self) -> torch.Tensor:
        """`P(y_t = k)` `(B, T, K)` by forward-backward, 0 at padding; differentiable (any order)."""
        alphas, betas, log_z = self._recursions()
        return _node_marginals(alphas, betas, log_z, self.mask)

    def pairwise_marginals(self) -> torch.Tensor:
        """`P(y_t = i, y_{t+1} = j)` `(B, T-1, K, K)`, 0 where position `t + 1` is padding."""
        alphas, betas, log_z = self._recursions()
        return _pairwise_marginals(alphas, betas, self.unary, self.transitions, self.mask, log_z)

    def entropy(self) -> torch.Tensor:
        """`log Z - E[score]` `(B,)` from the node and pairwise marginals; differentiable."""
        alphas, betas, log_z = self._recursions()
        nodes = _node_marginals(alphas, betas, log_z, self.mask)
        expected = (nodes * finite(self.unary)).sum((1, 2)) + nodes[:, 0] @ finite(self.start)
        last = _last_positions(self.mask)
        expected = expected + nodes[torch.arange(self.batch_size), last] @ finite(self.end)
        if self.transitions.dim() == 2:
            counts = _transition_counts(alphas, betas, self.unary, self.transitions, self.mask, log_z)
        else:
            counts = _pairwise_marginals(alphas, betas, self.unary, self.transitions, self.mask, log_z)
        pairwise = (counts * finite(self.transitions)).flatten(1).sum(-1)
        return log_z - expected - pairwise

    # -- scores of given outputs ---------------------------------------------------------------

    def score(self, y: torch.Tensor) -> torch.Tensor:
        """`y` `(B, N, T, K)` one-hot (or relaxed) -> `score(y)` `(B, N)`; values at padding ignored."""
        self._check_outputs(y)
        y = torch.where(self.mask[:, None, :, None], y, y.new_zeros(()))
        last = _last_positions(self.mask)
        first = masked_inner(y[:, :, 0], self.start.expand(self.batch_size, -1), None)
        final = masked_inner(y[torch.arange(self.batch_size), :, last], self.end.expand(self.batch_size, -1), None)
        return (masked_inner(y, self.unary, self.mask) + first + final
                + _bilinear(y[:, :, :-1], self.transitions, y[:, :, 1:]))

    def score_tags(self, tags: torch.Tensor) -> torch.Tensor:
        """Tag indices `(B, T)` or `(B, N, T)` -> `score` `(B,)` or `(B, N)` by gathering (fast).
        Indices at padding are ignored (any valid index)."""
        squeeze = tags.dim() == 2
        tags = tags.unsqueeze(1) if squeeze else tags
        batch, num, length = tags.shape
        mask = self.mask.unsqueeze(1)
        unary = self.unary.unsqueeze(1).expand(-1, num, -1, -1).gather(-1, tags.unsqueeze(-1)).squeeze(-1)
        total = torch.where(mask, unary, unary.new_zeros(())).sum(-1) + self.start[tags[:, :, 0]]
        last = _last_positions(self.mask)[:, None, None].expand(-1, num, 1)
        total = total + self.end[tags.gather(-1, last).squeeze(-1)]
        if length > 1:
            if self.transitions.dim() == 2:
                moves = self.transitions[tags[:, :, :-1], tags[:, :, 1:]]
            else:
                steps = torch.arange(length - 1, device=tags.device)
                rows = torch.arange(batch, device=tags.device)[:, None, None]
                moves = self.transitions[rows, steps, tags[:, :, :-1], tags[:, :, 1:]]
            total = total + torch.where(mask[:, :, 1:], moves, moves.new_zeros(())).sum(-1)
        return total.squeeze(1) if squeeze else total

    def log_prob_tags(self, tags: torch.Tensor) -> torch.Tensor:
        """Tag indices `(B, T)` or `(B, N, T)` -> `log p` `(B,)` or `(B, N)`."""
        log_z = self.log_partition()
        return self.score_tags(tags) - (log_z if tags.dim() == 2 else log_z.unsqueeze(1))

    def one_hot(self, tags: torch.Tensor) -> torch.Tensor:
        """Tag indices `(B, T)` or `(B, N, T)` -> one-hot `(B, T, K)` or `(B, N, T, K)`, 0 at padding."""
        y = torch.nn.functional.one_hot(tags, self.unary.size(-1)).to(self.unary.dtype)
        mask = self.mask if tags.dim() == 2 else self.mask.unsqueeze(1)
        return y * mask.unsqueeze(-1)

    # -- sampling and decoding -----------------------------------------------------------------

    def sample(self, num_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Exact draws by forward filtering, backward sampling: the last tag from
        `alpha_last + end`, then each earlier tag `t` from `alpha_t + transitions[:, y_{t+1}]`."""
        with torch.no_grad():
            alphas = self._alphas_without_history()
            length = self.unary.size(1)
            last = _last_positions(self.mask)[:, None, None]
            tags, following = [], None
            for t in range(length - 1, -1, -1):
                logits = alphas[:, t, None, :].expand(-1, num_samples, -1)
                ending = logits + self.end
                if following is not None:  # a sequence's last tag ends it; an earlier one precedes `following`
                    ending = torch.where(last == t, ending, logits + self._into(t, following))
                following = _gumbel_argmax(ending, generator)
                tags.append(following)
            return self.one_hot(torch.stack(tags[::-1], dim=-1))

    def _alphas_without_history(self) -> torch.Tensor:
        if self._traced is not None:
            return self._traced.alphas.detach()
        return _forward_scan(*(x.detach() for x in (self.unary, self.transitions, self.start)), self.mask)

    def _into(self, t: int, following: torch.Tensor) -> torch.Tensor:
        """`transitions[.., :, following]` for the move from `t` to `t + 1`: `(B, N)` -> `(B, N, K)`."""
        if self.transitions.dim() == 2:
            return self.transitions.t()[following]
        columns = self.transitions[:, t].transpose(1, 2)  # (B, K_next, K_previous)
        return columns.gather(1, following.unsqueeze(-1).expand(-1, -1, columns.size(-1)))

    def viterbi(self, cost: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The highest-scoring legal sequence (under `allowed_*`), `(tags (B, T) long, 0 at padding;
        its score (B,))`.  `cost` `(B, T, K)` is added to the unaries first (loss augmentation).
        A sequence without any legal path gets score `-inf` and arbitrary tags."""
        with torch.no_grad():
            unary = self.unary if cost is None else self.unary + cost
            transitions, start, end = self._constrained()
            return _viterbi(unary.detach(), transitions, start, end, self.mask)

    def _constrained(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transitions, start and end with `-inf` at the forbidden moves (detached)."""
        forbid = self.unary.new_tensor(-math.inf)
        potentials = (self.transitions.detach(), self.start.detach(), self.end.detach())
        return tuple(p if allowed is None else torch.where(allowed.to(p.device), p, forbid)
                     for p, allowed in zip(potentials, self.allowed))

    def argmax(self) -> torch.Tensor:
        """The Viterbi sequence, one-hot `(B, T, K)`, 0 at padding."""
        return self.one_hot(self.viterbi()[0])

    def loss_augmented_argmax(self, gold: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        """`argmax_y score(y) + weight * Hamming(y, gold)` one-hot `(B, T, K)`: Viterbi with `weight`
        added to every non-gold unary, the structured SVM's most violating output.  `gold` is tag
        indices `(B, T)` or one-hot `(B, T, K)`."""
        if gold.dim() == 2:
            gold = torch.nn.functional.one_hot(gold, self.unary.size(-1))
        cost = weight * (1 - gold.to(self.unary.dtype))
        return self.one_hot(self.viterbi(cost)[0])

    # -- mean field ----------------------------------------------------------------------------

    def mean_field_marginals(self, iterations: int = 10, damping: float = 0.0,
                             updates: str = "parallel") -> torch.Tensor:
        """Per-position marginals `q` `(B, T, K)` (0 at padding) of a fully factorised approximation
        of `p`: from `q_t = softmax(unary_t)`, `iterations` updates
        `q_t <- softmax(unary_t + q_{t-1} T + T q_{t+1})` (start and end added at the ends), whose
        fixed points are the stationary points of `KL(q || p)`.  Differentiable (the iterations are
        unrolled), for the mean-field objective.

        updates : `"parallel"` updates every position from the previous iterate (as CRF-as-RNN;
            may oscillate on strong couplings, `damping` in [0, 1) mixes in that much of the old
            `q`); `"alternating"` updates even positions, then odd ones (each half exactly, since
            positions of one parity do not interact on a chain): every half-step lowers the KL.
        """
        if updates not in ("parallel", "alternating"):
            raise ConfigurationError(f"mean field updates must be 'parallel' or 'alternating', got {updates!r}")
        if not 0.0 <= damping < 1.0:
            raise ConfigurationError(f"mean field damping must be in [0, 1), got {damping}")
        local = self._local_potentials()
        q = self._masked_softmax(local)
        parity = (torch.arange(self.unary.size(1), device=self.unary.device) % 2 == 0)[None, :, None]
        for _ in range(iterations):
            if updates == "parallel":
                q = self._mean_field_update(local, q, damping)
            else:
                q = torch.where(parity, self._mean_field_update(local, q, damping), q)
                q = torch.where(parity, q, self._mean_field_update(local, q, damping))
        return q

    def _local_potentials(self) -> torch.Tensor:
        """Unaries with `start` added at the first position and `end` at each last real one."""
        last = torch.nn.functional.one_hot(_last_positions(self.mask), self.unary.size(1)).to(self.unary.dtype)
        return self.unary + last.unsqueeze(-1) * self.end + torch.nn.functional.pad(
            self.start.expand(self.batch_size, 1, -1), (0, 0, 0, self.unary.size(1) - 1))

    def _masked_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        q = torch.softmax(logits, dim=-1)
        return torch.where(self.mask.unsqueeze(-1), q, q.new_zeros(()))

    def _mean_field_update(self, local: torch.Tensor, q: torch.Tensor, damping: float) -> torch.Tensor:
        if self.transitions.dim() == 2:
            from_left, from_right = q[:, :-1] @ self.transitions, q[:, 1:] @ self.transitions.t()
        else:
            from_left = torch.einsum("bti,btij->btj", q[:, :-1], self.transitions)
            from_right = torch.einsum("btj,btij->bti", q[:, 1:], self.transitions)
        pad = torch.nn.functional.pad
        new = self._masked_softmax(local + pad(from_left, (0, 0, 1, 0)) + pad(from_right, (0, 0, 0, 1)))
        return new if damping == 0.0 else (1 - damping) * new + damping * q


def _bilinear(previous: torch.Tensor, transitions: torch.Tensor, following: torch.Tensor) -> torch.Tensor:
    """`sum_t previous_t^T T following_t` `(B, N)` for `previous`, `following` `(B, N, T-1, K)` and
    shared or per-position `T`; `-inf` where a forbidden (`-inf`) move has positive weight."""
    equation = "bnti,ij,bntj->bn" if transitions.dim() == 2 else "bnti,btij,bntj->bn"
    return with_forbidden(lambda matrix: torch.einsum(equation, previous, matrix, following), transitions)


def _gumbel_argmax(logits: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """One draw from `softmax(logits)` over the last axis (Gumbel-max), indices."""
    uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    return (logits - torch.log(-torch.log(uniform))).argmax(-1)


# Candidate scores per step of one block of sequences in Viterbi: small enough to stay in cache.
_VITERBI_BLOCK_SCORES = 1 << 20


def _viterbi(unary, transitions, start, end, mask) -> Tuple[torch.Tensor, torch.Tensor]:
    """Max-sum decoding of every sequence: the best tags `(B, T)` (0 at padding) and scores `(B,)`,
    in blocks of sequences whose `(K, K, block)` candidate scores fit in cache."""
    block = max(1, _VITERBI_BLOCK_SCORES // unary.size(-1) ** 2)
    if unary.size(0) <= block:
        return _viterbi_block(unary, transitions, start, end, mask)
    per_position = transitions.dim() == 4
    results = [_viterbi_block(unary[i:i + block], transitions[i:i + block] if per_position else transitions,
                              start, end, mask[i:i + block]) for i in range(0, unary.size(0), block)]
    return torch.cat([tags for tags, _ in results]), torch.cat([score for _, score in results])


def _viterbi_block(unary, transitions, start, end, mask) -> Tuple[torch.Tensor, torch.Tensor]:
    """Max-sum over a block of sequences at once, the candidates of a step in one reused
    `(B, K_next, K_previous)` buffer.  Only the best scores are kept; the backtrace finds each
    previous tag again from them (`O(B K)` per position).  At padding the best scores are carried
    over and the backtrace keeps the tag, so one backtrace serves every length."""
    batch, length, num_tags = unary.shape
    shared = transitions.dim() == 2
    into = transitions.t() if shared else transitions.transpose(-1, -2)  # [.., next, previous]
    candidates = unary.new_empty(batch, num_tags, num_tags)
    everywhere = _real_everywhere(mask)
    best = unary[:, 0] + start
    history = [best]
    for t in range(1, length):
        torch.add(best.unsqueeze(1), into if shared else into[:, t - 1], out=candidates)
        top = candidates.amax(-1) + unary[:, t]
        best = top if t < everywhere else torch.where(mask[:, t, None], top, best)
        history.append(best)
    score, tag = (best + end).max(-1)
    path = [tag]
    rows = torch.arange(batch, device=mask.device)
    for t in range(length - 2, -1, -1):
        moves = into[tag] if shared else into[rows, t, tag]  # (B, K_previous) into each sequence's tag
        previous = (history[t] + moves).argmax(-1)
        tag = previous if t + 1 < everywhere else torch.where(mask[:, t + 1], previous, tag)
        path.append(tag)
    tags = torch.stack(path[::-1], dim=1)
    return torch.where(mask, tags, tags.new_zeros(())), score
