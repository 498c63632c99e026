"""The Gaussian CRF (Chandra & Kokkinos, ECCV 2016; dense low-rank pairwise term after Chandra,
Usunier & Kokkinos, ICCV 2017) with a class-agnostic Potts pairwise term built from embeddings.

Over continuous scores `s` `(P, C)` (P positions, C scores per position) the CRF's score is

    score(s) = -1/2 sum_c s_c^T (W + lambda I) s_c + sum_c U_c^T s_c,    W = A A^T,

with unaries `U` `(P, C)`, embeddings `A` `(P, d)` and `lambda > 0`.  `W` is the same for every
class column (a Potts-type, class-agnostic interaction), so the optimum solves C systems sharing one
operator: `(W + lambda I) s*_c = U_c`.  `A A^T` is positive semi-definite, so `W + lambda I` is
positive definite with eigenvalues in `[lambda, lambda + ||A||_2^2]`: the score is strictly concave,
`s*` is its unique maximiser, and conjugate gradients find it, exactly after at most `d + 1`
iterations in exact arithmetic (`W` has rank `<= d`).  `W` is applied as `A (A^T s)` and never
formed: `O(P d)` memory.

`W_ij = a_i . a_j`: a negative inner product rewards agreeing scores at `i` and `j`, a positive one
penalises them.  Any positive semi-definite interaction of rank `<= d` is representable, including
the Laplacian of a pixel graph (attraction between neighbours).  The diagonal of `A A^T` is kept:
removing it loses positive semi-definiteness, and for unit embeddings it equals using `lambda - 1`.

A binary task with one logit per position (`C = 1`) is the same model: for two classes with a
Potts term, the difference of the two class scores obeys the system above with the difference of
the unaries.

Padding: a masked-out position gets an identity row (`s*_p = U_p`, no coupling to the others) and
is left out of the score.
"""
from functools import partial
from typing import Optional, Union

import torch

from seal.nn import CGResult, spd_solve

Diagonal = Union[float, torch.Tensor]


def potts_operator(
    x: torch.Tensor, embeddings: torch.Tensor, diagonal: torch.Tensor, mask: Optional[torch.BoolTensor] = None
) -> torch.Tensor:
    """`(W + lambda I) x` for `x` `(B * C, P)`, the C class columns of each of B examples (example
    major), with `W = A A^T` from `embeddings` `(B, P, d)` and `lambda` = `diagonal` (a scalar
    tensor); rows of padded positions (`mask` `(B, P)` false) are identity rows."""
    batch, positions, _ = embeddings.shape
    if mask is not None:
        embeddings = embeddings * mask.unsqueeze(-1).to(embeddings.dtype)
    columns = x.view(batch, -1, positions)
    projected = torch.einsum("bpd,bcp->bcd", embeddings, columns)  # A^T x
    image = torch.einsum("bpd,bcd->bcp", embeddings, projected) + diagonal * columns
    if mask is not None:
        image = torch.where(mask.unsqueeze(1), image, columns)
    return image.reshape(x.shape)


def gaussian_crf_optimum(
    unary: torch.Tensor,
    embeddings: torch.Tensor,
    diagonal: Diagonal,
    mask: Optional[torch.BoolTensor] = None,
    tolerance: float = 1e-5,
    max_iterations: int = 100,
) -> CGResult:
    """The maximiser `s* = (A A^T + lambda I)^{-1} U` of the Gaussian CRF score, by conjugate
    gradients, one system per example and class column, each stopping on its own.

    # Parameters
    unary : `(B, P, C)`, the unary scores `U`.
    embeddings : `(B, P, d)`, the embeddings `A` (any values at padded positions).
    diagonal : `float` or scalar tensor, `lambda > 0`.
    mask : `(B, P)` bool, optional: false at padded positions.
    tolerance, max_iterations : the solver's relative residual tolerance and cap.

    # Returns
    A `CGResult`: `solution` `(B, P, C)` (= `U` at padded positions), `iterations`,
    `residual_norm` and `converged` `(B, C)`.  Differentiable with respect to `unary`,
    `embeddings` and `diagonal` by the adjoint method (`spd_solve`): with `G` the solution of
    `(W + lambda I) G = dL/ds*`, `dL/dU = G`, `dL/dA = -(G s*^T + s* G^T) A` summed over classes,
    `dL/dlambda = -<G, s*>` (real positions only).
    """
    batch, positions, classes = unary.shape
    if embeddings.shape[:2] != (batch, positions):
        raise ValueError(f"gaussian CRF: embeddings {tuple(embeddings.shape)} do not match unary {tuple(unary.shape)}")
    if mask is not None and mask.shape != (batch, positions):
        raise ValueError(f"gaussian CRF: mask {tuple(mask.shape)} does not match unary {tuple(unary.shape)}")
    diagonal = torch.as_tensor(diagonal, dtype=unary.dtype, device=unary.device)
    if diagonal.dim() != 0 or not bool(diagonal > 0):
        raise ValueError(f"gaussian CRF: lambda must be a positive scalar, got {diagonal}")
    b = unary.transpose(1, 2).reshape(batch * classes, positions)
    operator = partial(potts_operator, mask=mask)
    result = spd_solve(operator, b, (embeddings, diagonal), tolerance, max_iterations, "gaussian CRF")
    solution = result.solution.view(batch, classes, positions).transpose(1, 2)
    return CGResult(solution, *(field.view(batch, classes) for field in result[1:]))


def gaussian_crf_score(
    scores: torch.Tensor,
    unary: torch.Tensor,
    embeddings: torch.Tensor,
    diagonal: Diagonal,
    mask: Optional[torch.BoolTensor] = None,
) -> torch.Tensor:
    """`-1/2 sum_c s_c^T (A A^T + lambda I) s_c + sum_c U_c^T s_c` over the real positions,
    `(B,)`, for `scores` and `unary` `(B, P, C)`, `embeddings` `(B, P, d)`, `mask` `(B, P)`."""
    if mask is not None:
        real = mask.unsqueeze(-1).to(scores.dtype)
        scores, unary, embeddings = scores * real, unary * real, embeddings * real
    pairwise = torch.einsum("bpd,bpc->bcd", embeddings, scores).square().flatten(1).sum(-1)
    quadratic = pairwise + diagonal * scores.square().flatten(1).sum(-1)
    return -0.5 * quadratic + (unary * scores).flatten(1).sum(-1)
