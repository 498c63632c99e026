import math
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.structured_scores.structured_score import StructuredScore


def _check_and_mask(
    name: str, y: torch.Tensor, mask: Optional[torch.Tensor], num_tags: int
) -> Tuple[torch.Tensor, torch.BoolTensor]:
    """Validates the shapes of a tag-sequence score's inputs and returns `(y, mask)` with `y`
    zeroed at the padded positions (by selection, not multiplication, so that any value there,
    even `nan` or `inf`, is discarded) and `mask` a `(batch, seq_len)` bool tensor (all `True`
    when `mask` is `None`)."""
    if y.dim() != 4 or y.size(-1) != num_tags:
        raise ConfigurationError(
            f"{name} expects y of shape (batch, num_samples, seq_len, num_tags={num_tags}), "
            f"got {tuple(y.shape)}"
        )
    batch_size, _, seq_len, _ = y.shape
    if mask is None:
        mask = torch.ones(batch_size, seq_len, dtype=torch.bool, device=y.device)
    elif mask.dim() != 2 or tuple(mask.shape) != (batch_size, seq_len):
        raise ConfigurationError(
            f"{name} expects mask of shape (batch, seq_len) = {(batch_size, seq_len)}, "
            f"got {tuple(mask.shape)}"
        )
    mask = mask.bool()
    y = torch.where(mask[:, None, :, None], y, torch.zeros((), dtype=y.dtype, device=y.device))
    return y, mask


@StructuredScore.register("skip-chain")
class SkipChainScore(StructuredScore):
    """Tag interactions between positions up to `order` apart:

        `score(y) = sum_{k=1..order} sum_i y_i^T W_k y_{i+k}`,

    summed over the pairs `(i, i + k)` where both positions are real tokens.  With discrete
    (one-hot) `y` this is the sum of `W_k[tag_i, tag_{i+k}]`; with relaxed `y` it is the same
    bilinear form of the per-position distributions.

    Shapes: `y` `(batch, num_samples, seq_len, num_tags)` with entries in [0, 1] (a distribution
    over tags at each position), `mask` `(batch, seq_len)` bool (`True` for real tokens, padding at
    the end; `None` means no padding), `features` ignored; returns `(batch, num_samples)`.  Values
    of `y` at padded positions never affect the score.  Differentiable in `y` and in `W`.

    Every `W_k` starts at zero, so the score is 0 for every `y` at initialisation: the energy
    starts as a purely local one (the per-position terms of the rest of the model) and the
    couplings between positions are learned from there, without perturbing early inference.

    # Parameters
    vocab : `Vocabulary`
    order : `int`, optional (default = `1`)
        Largest distance `k` between interacting positions (1 = adjacent tags only).
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(self, vocab: Vocabulary, order: int = 1, label_namespace: str = "labels") -> None:
        super().__init__()
        if not isinstance(order, int) or order < 1:
            raise ConfigurationError(f"skip-chain order must be an integer >= 1, got {order!r}")
        self.order = order
        self.num_tags = vocab.get_vocab_size(label_namespace)
        # weights[k - 1] is W_k, `(num_tags, num_tags)`: rows index the tag at i, columns at i + k.
        self.weights = torch.nn.Parameter(torch.zeros(order, self.num_tags, self.num_tags))

    def _pairwise(self, y: torch.Tensor) -> torch.Tensor:
        """`y` already zeroed at padding -> the skip-chain sum `(batch, num_samples)`.  A pair
        with a padded end contributes exactly 0 since that end's `y` is 0."""
        seq_len = y.size(2)
        score = y.new_zeros(y.shape[:2])
        for k in range(1, min(self.order, seq_len - 1) + 1):
            score = score + torch.einsum(
                "bnli,ij,bnlj->bn", y[:, :, :-k], self.weights[k - 1], y[:, :, k:]
            )
        return score

    def forward(self, y, mask=None, features=None):
        y, _ = _check_and_mask(type(self).__name__, y, mask, self.num_tags)
        return self._pairwise(y)


@StructuredScore.register("linear-chain")
class LinearChainScore(SkipChainScore):
    """A learned tag-transition matrix (a linear-chain CRF's pairwise term), with optional learned
    start and end scores:

        `score(y) = sum_i y_i^T W y_{i+1} + s_start . y_0 + s_end . y_last`,

    where `last` is the last real position of each sequence (a sequence with no real token scores
    0).  Shapes, masking and differentiability as in `SkipChainScore` (`order == 1`).  `W`,
    `s_start` and `s_end` start at zero (a purely local energy at initialisation).

    # Parameters
    vocab : `Vocabulary`
    include_start_end : `bool`, optional (default = `True`)
        Whether to add the start and end scores.
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(
        self, vocab: Vocabulary, include_start_end: bool = True, label_namespace: str = "labels"
    ) -> None:
        super().__init__(vocab, order=1, label_namespace=label_namespace)
        self.include_start_end = include_start_end
        if include_start_end:
            self.start_scores = torch.nn.Parameter(torch.zeros(self.num_tags))
            self.end_scores = torch.nn.Parameter(torch.zeros(self.num_tags))
        else:
            self.start_scores = None
            self.end_scores = None

    @property
    def transitions(self) -> torch.Tensor:
        """The `(num_tags, num_tags)` transition matrix `W` (a view of `weights[0]`)."""
        return self.weights[0]

    def forward(self, y, mask=None, features=None):
        y, mask = _check_and_mask(type(self).__name__, y, mask, self.num_tags)
        score = self._pairwise(y)
        if self.include_start_end and y.size(2) > 0:
            # y is zero at padding, so a row without real tokens gets 0 from both terms.
            score = score + y[:, :, 0] @ self.start_scores
            last = (mask.long().sum(-1) - 1).clamp_min(0)  # (batch,)
            index = last[:, None, None, None].expand(y.size(0), y.size(1), 1, y.size(3))
            score = score + y.gather(2, index).squeeze(2) @ self.end_scores
        return score


@StructuredScore.register("self-attention-full-sequence")
class SelfAttentionSequenceScore(StructuredScore):
    """Label interactions across the whole sequence, as in SEAL's SRL energy: a Transformer
    encoder over the embedded tag distributions, then a per-position MLP to a scalar, summed over
    the real positions:

        `h_i = y_i E + p_i (+ F features_i)`,  `h = TransformerEncoder(h, key padding = ~mask)`,
        `score(y) = sum_{i real} mlp(h_i)`,

    with `E` `(num_tags, embedding_dim)` learned and `p_i` a fixed sinusoidal position encoding
    (a function of the position index only, so it does not depend on the padding).  The samples
    are flattened into the batch.

    Shapes: `y` `(batch, num_samples, seq_len, num_tags)` with entries in [0, 1], `mask`
    `(batch, seq_len)` bool (`True` for real tokens, padding at the end; `None` = no padding),
    `features` `(batch, seq_len, feature_dim)` (required iff `feature_dim` is set); returns
    `(batch, num_samples)`.  The score is invariant to the values of `y` and `features` at padded
    positions and to extra padding length: padded inputs are zeroed, padded keys are masked out
    of attention, and padded outputs are dropped before the sum.  Rows without real tokens (and
    `seq_len == 0`) score 0, without `nan`.  Differentiable in `y`, `features` and the parameters
    (the encoder uses the smooth GELU activation).

    # Parameters
    vocab : `Vocabulary`
    embedding_dim : `int`, optional (default = `32`)
        Transformer model dimension; must be divisible by `num_heads`.
    num_heads : `int`, optional (default = `2`)
    num_layers : `int`, optional (default = `1`)
    feedforward_dim : `int`, optional (default = `64`)
        Hidden size of the Transformer's feed-forward blocks and of the output MLP.
    dropout : `float`, optional (default = `0.0`)
    feature_dim : `int`, optional
        Dimension of the score-net's per-token features; when set, their projection is added to
        the input embeddings (a score conditioned on `x`).
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        embedding_dim: int = 32,
        num_heads: int = 2,
        num_layers: int = 1,
        feedforward_dim: int = 64,
        dropout: float = 0.0,
        feature_dim: Optional[int] = None,
        label_namespace: str = "labels",
    ) -> None:
        super().__init__()
        if embedding_dim % num_heads != 0:
            raise ConfigurationError(
                f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.num_tags = vocab.get_vocab_size(label_namespace)
        self.embedding_dim = embedding_dim
        self.feature_dim = feature_dim
        self.tag_embeddings = torch.nn.Parameter(torch.empty(self.num_tags, embedding_dim))
        torch.nn.init.xavier_uniform_(self.tag_embeddings)
        self.feature_projection = (
            torch.nn.Linear(feature_dim, embedding_dim) if feature_dim is not None else None
        )
        layer = torch.nn.TransformerEncoderLayer(
            d_model=embedding_dim,
            nhead=num_heads,
            dim_feedforward=feedforward_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
        )
        # No nested tensors: they drop padded positions and can yield nan for fully padded rows.
        self.encoder = torch.nn.TransformerEncoder(
            layer, num_layers=num_layers, enable_nested_tensor=False
        )
        self.output = torch.nn.Sequential(
            torch.nn.Linear(embedding_dim, feedforward_dim),
            torch.nn.GELU(),
            torch.nn.Linear(feedforward_dim, 1),
        )

    def _position_encoding(self, seq_len: int, dtype, device) -> torch.Tensor:
        """Sinusoidal encoding `(seq_len, embedding_dim)` (Vaswani et al., 2017)."""
        positions = torch.arange(seq_len, dtype=dtype, device=device)[:, None]
        half = (self.embedding_dim + 1) // 2
        frequencies = torch.exp(
            torch.arange(half, dtype=dtype, device=device) * (-2.0 * math.log(10000.0) / self.embedding_dim)
        )
        angles = positions * frequencies  # (seq_len, half)
        encoding = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(seq_len, 2 * half)
        return encoding[:, : self.embedding_dim]

    def forward(self, y, mask=None, features=None):
        y, mask = _check_and_mask(type(self).__name__, y, mask, self.num_tags)
        batch_size, num_samples, seq_len, _ = y.shape
        if self.feature_projection is not None:
            if features is None:
                raise ConfigurationError(
                    "self-attention-full-sequence with feature_dim needs features from the score-net"
                )
            if features.dim() != 3 or tuple(features.shape) != (batch_size, seq_len, self.feature_dim):
                raise ConfigurationError(
                    "self-attention-full-sequence expects features of shape (batch, seq_len, "
                    f"feature_dim) = {(batch_size, seq_len, self.feature_dim)}, got {tuple(features.shape)}"
                )
        if seq_len == 0:
            return y.sum(dim=(2, 3))  # zeros, still attached to y

        hidden = y @ self.tag_embeddings  # (batch, samples, seq, dim)
        hidden = hidden + self._position_encoding(seq_len, hidden.dtype, hidden.device)
        if self.feature_projection is not None:
            features = torch.where(
                mask[:, :, None], features, torch.zeros((), dtype=features.dtype, device=features.device)
            )
            hidden = hidden + self.feature_projection(features).unsqueeze(1)
        hidden = hidden.reshape(batch_size * num_samples, seq_len, self.embedding_dim)
        flat_mask = mask.unsqueeze(1).expand(batch_size, num_samples, seq_len).reshape(-1, seq_len)
        # A row with no real token would mask every key (softmax over nothing -> nan); let such
        # rows attend to their first (padded) position instead.  Their outputs are dropped below.
        key_padding_mask = ~flat_mask
        empty = ~flat_mask.any(-1)
        key_padding_mask[:, 0] = key_padding_mask[:, 0] & ~empty
        hidden = self.encoder(hidden, src_key_padding_mask=key_padding_mask)
        per_position = self.output(hidden).squeeze(-1)  # (batch * samples, seq)
        per_position = torch.where(
            flat_mask, per_position, torch.zeros((), dtype=per_position.dtype, device=per_position.device)
        )
        return per_position.sum(-1).reshape(batch_size, num_samples)
