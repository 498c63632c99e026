import math
from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules import FeedForward

from seal.modules.gaussian_crf import gaussian_crf_optimum
from seal.modules.task_nets.task_nn import TaskNN, TaskOutput


@TaskNN.register("gaussian-crf")
class GaussianCRFTaskNN(TaskNN):
    """A Gaussian CRF task-net (`seal.modules.gaussian_crf`): any task-net's logits as the unary
    scores `U`, a class-agnostic Potts pairwise term `W = A A^T` from per-position embeddings `A`
    computed from the unary net's `features`, and as logits the CRF's optimum
    `s* = (W + lambda I)^{-1} U`, found by conjugate gradients and differentiated by the adjoint
    method.  The logits keep the unary's shape, so output spaces, samplers and losses read `s*`
    as they read any task-net's logits (prediction: the per-position argmax, or sign for one
    binary score per position).

    Layouts of the unary's `TaskOutput`:
    - logits `(B, *positions)` (one binary score per position, e.g. a segmentation U-Net's
      `(B, H, W)`), or with `classes_last` `(B, *positions, C)` (e.g. a tagger's `(B, T, C)`);
    - features `(B, F, *positions)` (a convolutional feature map, `channels_first`), or
      `(B, *positions, F)`; the embedding network maps each position's `F` features to `d`
      (by default a linear map: a 1x1 convolution on a feature map);
    - mask `None` or `(B, *positions)` bool; padded positions keep their unary score.

    `embedding_normalization` bounds the pairwise term (eigenvalues of `W` lie in `[0, ||W||_2]`):
    - `"mean-cosine"` (default): unit embeddings divided by `sqrt(n)` (n real positions of the
      example), so `W_ij = cos(a_i, a_j) / n` and `||W||_2 <= 1`: the condition number of the
      system is at most `1 + 1 / lambda` and the balance of unary and pairwise terms does not
      depend on the size of the image;
    - `"cosine"`: unit embeddings, `W_ij = cos(a_i, a_j)` and `||W||_2 <= n`;
    - `"none"`: the raw embeddings; the network sets the scale of `W` (and the conditioning).

    # Parameters
    unary : `TaskNN`
    feature_dim : `int`, optional (default = the unary's `get_feature_dim()`, e.g. a `unet`'s)
        `F`, the size of the unary net's per-position features.
    embedding_dim : `int`, optional (default = `16`)
        `d`, the rank of `W`.
    embedding : `FeedForward`, optional (default = a linear map `F -> d`)
        Its input dimension must be `feature_dim` and its output dimension `embedding_dim`.
    embedding_normalization : `str`, optional (default = `"mean-cosine"`)
    lambda_init : `float`, optional (default = `1.0`)
        The diagonal `lambda > 0`; with `W = 0` and `lambda = 1`, `s* = U`.
    learn_lambda : `bool`, optional (default = `True`)
        Learn `log lambda` (so `lambda` stays positive); otherwise `lambda` is fixed.
    classes_last : `bool`, optional (default = `False`)
    channels_first : `bool`, optional (default = `True`)
    tolerance : `float`, optional (default = `1e-5`)
        The relative residual at which conjugate gradients stop (forward and adjoint solves).
    max_iterations : `int`, optional (default = `100`)
        Their cap; a solve that hits it is logged as a warning.
    """

    NORMALIZATIONS = ("mean-cosine", "cosine", "none")

    def __init__(
        self,
        unary: TaskNN,
        feature_dim: Optional[int] = None,
        embedding_dim: int = 16,
        embedding: Optional[FeedForward] = None,
        embedding_normalization: str = "mean-cosine",
        lambda_init: float = 1.0,
        learn_lambda: bool = True,
        classes_last: bool = False,
        channels_first: bool = True,
        tolerance: float = 1e-5,
        max_iterations: int = 100,
    ) -> None:
        super().__init__()
        if not lambda_init > 0 or not math.isfinite(lambda_init):
            raise ConfigurationError(f"gaussian-crf: lambda_init must be > 0 (it keeps W + lambda I positive "
                                     f"definite), got {lambda_init}")
        if not tolerance > 0 or max_iterations < 1:
            raise ConfigurationError(f"gaussian-crf: tolerance must be > 0 and max_iterations >= 1, "
                                     f"got {tolerance} and {max_iterations}")
        if embedding_normalization not in self.NORMALIZATIONS:
            raise ConfigurationError(f"gaussian-crf: unknown embedding_normalization {embedding_normalization!r}; "
                                     f"use one of {self.NORMALIZATIONS}")
        if feature_dim is None:
            if not hasattr(unary, "get_feature_dim"):
                raise ConfigurationError(f"gaussian-crf: give feature_dim, the size of the features of the unary "
                                         f"task-net {type(unary).__name__} (it has no get_feature_dim())")
            feature_dim = unary.get_feature_dim()
        if embedding is None:
            embedding = torch.nn.Linear(feature_dim, embedding_dim)
        elif (embedding.get_input_dim(), embedding.get_output_dim()) != (feature_dim, embedding_dim):
            raise ConfigurationError(
                f"gaussian-crf: the embedding maps {embedding.get_input_dim()} to {embedding.get_output_dim()} "
                f"dimensions; expected feature_dim {feature_dim} to embedding_dim {embedding_dim}"
            )
        self.unary = unary
        self.feature_dim = feature_dim
        self.embedding = embedding
        self.embedding_normalization = embedding_normalization
        log_lambda = torch.tensor(math.log(lambda_init))
        if learn_lambda:
            self.log_lambda = torch.nn.Parameter(log_lambda)
        else:
            self.register_buffer("log_lambda", log_lambda)
        self.classes_last = classes_last
        self.channels_first = channels_first
        self.tolerance = tolerance
        self.max_iterations = max_iterations

    @property
    def diagonal(self) -> torch.Tensor:
        """`lambda`, a positive scalar tensor."""
        return self.log_lambda.exp()

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        output = self.unary(**inputs)
        logits = output.logits
        positions = tuple(logits.shape[1:-1] if self.classes_last else logits.shape[1:])
        batch, num_positions = logits.size(0), math.prod(positions)
        mask = self._flat_mask(output.mask, logits.shape, positions)
        embeddings = self._embeddings(self._position_features(output.features, logits.shape, positions), mask)
        unary = logits.reshape(batch, num_positions, -1)
        optimum = gaussian_crf_optimum(
            unary, embeddings.to(unary.dtype), self.diagonal.to(unary.dtype), mask, self.tolerance, self.max_iterations
        )
        return output._replace(logits=optimum.solution.reshape(logits.shape))

    def _layout(self) -> str:
        logits = "(B, *positions, C)" if self.classes_last else "(B, *positions)"
        dim = self.feature_dim
        features = f"(B, {dim}, *positions)" if self.channels_first else f"(B, *positions, {dim})"
        return f"logits {logits} and features {features}"

    def _position_features(
        self, features: Optional[torch.Tensor], logits_shape: torch.Size, positions: Tuple[int, ...]
    ) -> torch.Tensor:
        """The unary's features as `(B, P, F)`."""
        expected = (logits_shape[0], self.feature_dim, *positions) if self.channels_first else \
            (logits_shape[0], *positions, self.feature_dim)
        if features is None or tuple(features.shape) != expected:
            got = None if features is None else tuple(features.shape)
            raise ConfigurationError(
                f"gaussian-crf: with classes_last={self.classes_last} and channels_first={self.channels_first} "
                f"the unary task-net must return {self._layout()}, i.e. features {expected} for logits "
                f"{tuple(logits_shape)}; got features {got}"
            )
        if self.channels_first:
            features = features.movedim(1, -1)
        return features.reshape(logits_shape[0], -1, self.feature_dim)

    def _flat_mask(
        self, mask: Optional[torch.Tensor], logits_shape: torch.Size, positions: Tuple[int, ...]
    ) -> Optional[torch.BoolTensor]:
        """The unary's mask as `(B, P)`, or `None`."""
        if mask is None:
            return None
        if tuple(mask.shape) != (logits_shape[0], *positions):
            raise ConfigurationError(
                f"gaussian-crf: the unary task-net's mask must be (B, *positions) = {(logits_shape[0], *positions)} "
                f"for {self._layout()}; got {tuple(mask.shape)}"
            )
        return mask.reshape(logits_shape[0], -1).bool()

    def _embeddings(self, features: torch.Tensor, mask: Optional[torch.BoolTensor]) -> torch.Tensor:
        """`A` `(B, P, d)`, normalised as `embedding_normalization` says."""
        embeddings = self.embedding(features)
        if self.embedding_normalization == "none":
            return embeddings
        embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
        if self.embedding_normalization == "mean-cosine":
            real = features.new_full(features.shape[:1], features.size(1)) if mask is None else mask.sum(-1)
            embeddings = embeddings / real.to(embeddings.dtype).clamp_min(1).sqrt().view(-1, 1, 1)
        return embeddings
