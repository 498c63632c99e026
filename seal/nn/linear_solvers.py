"""Batched conjugate gradients for symmetric positive-definite operators given as functions, and a
solve differentiated by the adjoint method (one more solve in the backward pass) rather than
through the iterations.

Both are generic: the operator is any `matvec` (a Gaussian CRF's `W + lambda I`, a Hessian-vector
product, ...).  Each batch element is its own system and stops on its own; a system that does not
reach the tolerance within the iteration cap, or whose operator turns out not to be positive
definite, is flagged in the result and logged, never returned silently.
"""
import logging
from typing import Callable, NamedTuple, Optional, Sequence, Set, Tuple

import torch
from torch.autograd.function import once_differentiable

logger = logging.getLogger(__name__)

# (name, kind) pairs already warned about: the first failure of each is a WARNING, later ones DEBUG,
# so a training run with too small an iteration cap says so once instead of every batch.
_WARNED: Set[Tuple[str, str]] = set()


class CGResult(NamedTuple):
    """What `conjugate_gradient` returns.

    solution : `(batch, ...)`, the shape of `b`.
    iterations : `(batch,)` long, the iterations each system ran (0 when `x0` already solved it).
    residual_norm : `(batch,)`, `||b - M x||` of each system, as updated by the iterations (equal to
        the residual recomputed from `x` up to round-off).
    converged : `(batch,)` bool, whether `residual_norm <= tolerance * ||b||` was reached (false
        after a breakdown: `p^T M p <= 0` or not finite, i.e. `M` is not positive definite).
    """

    solution: torch.Tensor
    iterations: torch.Tensor
    residual_norm: torch.Tensor
    converged: torch.Tensor


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    x0: Optional[torch.Tensor] = None,
    tolerance: float = 1e-6,
    max_iterations: int = 100,
    name: str = "conjugate gradient",
) -> CGResult:
    """Solves `M x = b` for a batch of symmetric positive-definite operators `M`.

    # Parameters
    matvec : `Callable`
        `x (batch, ...) -> M x (batch, ...)`, applying batch element `i`'s operator to `x[i]`; it
        must be linear, symmetric and positive definite in each system (not checked, except that
        a non-positive curvature `p^T M p` stops that system as a breakdown).
    b : `(batch, ...)`
        The right-hand sides; everything after the batch axis is one system's vector.
    x0 : `(batch, ...)`, optional (default = zeros)
        A starting point (a warm start).  A system with `b = 0` returns exactly 0.
    tolerance : `float`, optional (default = `1e-6`)
        Relative: system `i` stops once `||b_i - M x_i|| <= tolerance * ||b_i||`.  In float32 a
        tolerance much below `1e-6 * condition number` cannot be reached.
    max_iterations : `int`, optional (default = `100`)
        The cap on iterations (one `matvec` each).  In exact arithmetic CG is exact after as many
        iterations as `M` has distinct eigenvalues (`rank + 1` for `lambda I` plus a low-rank term).
    name : `str`, optional
        Names the solve in the warning logged when a system does not converge.

    Differentiable through the iterations if `b`, `x0` or `matvec` are (expensive: the graph grows
    with each iteration); `spd_solve` differentiates by the adjoint method instead.
    """
    if tolerance <= 0 or max_iterations < 1:
        raise ValueError(f"{name}: tolerance must be > 0 and max_iterations >= 1, got {tolerance}, {max_iterations}")
    if b.dim() < 2:
        raise ValueError(f"{name}: b must be (batch, ...) with at least one axis per system, got {tuple(b.shape)}")

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).flatten(1).sum(-1)

    def per_system(values: torch.Tensor) -> torch.Tensor:
        return values.view(-1, *([1] * (b.dim() - 1)))

    b_norm = b.flatten(1).norm(dim=-1)
    threshold = tolerance * b_norm
    if x0 is None:
        x, r = torch.zeros_like(b), b
    else:
        x = torch.where(per_system(b_norm > 0), x0, x0.new_zeros(()))
        r = b - matvec(x)
    p = r
    rs = dot(r, r)
    active = rs.sqrt() > threshold
    iterations = torch.zeros_like(active, dtype=torch.long)
    broke_down = torch.zeros_like(active)
    for _ in range(max_iterations):
        if not bool(active.any()):
            break
        mp = matvec(p)
        curvature = dot(p, mp)
        broken = active & ~(curvature > 0)
        broke_down = broke_down | broken
        active = active & ~broken
        alpha = torch.where(active, rs / torch.where(active, curvature, torch.ones_like(curvature)), 0.0)
        x = x + per_system(alpha) * p
        r = r - per_system(alpha) * mp
        rs_next = dot(r, r)
        beta = torch.where(active, rs_next / torch.where(active, rs, torch.ones_like(rs)), 0.0)
        p = r + per_system(beta) * p
        rs = torch.where(active, rs_next, rs)
        iterations = iterations + active.long()
        active = active & (rs.sqrt() > threshold)
    residual_norm = rs.sqrt()
    converged = (residual_norm <= threshold) & ~broke_down
    _report(name, b_norm, residual_norm, converged, broke_down, tolerance, max_iterations)
    return CGResult(x, iterations, residual_norm, converged)


def _report(name, b_norm, residual_norm, converged, broke_down, tolerance, max_iterations) -> None:
    if bool(converged.all()):
        return
    relative = (residual_norm / b_norm.clamp_min(torch.finfo(b_norm.dtype).tiny))[~converged]
    kind = "breakdown" if bool(broke_down.any()) else "cap"
    cause = ("the operator is not positive definite (p^T M p <= 0 or not finite)" if kind == "breakdown"
             else f"the cap of {max_iterations} iterations was hit")
    first = (name, kind) not in _WARNED
    _WARNED.add((name, kind))
    logger.log(
        logging.WARNING if first else logging.DEBUG,
        "%s: %d of %d systems did not reach the relative residual %g (largest: %.3g): %s; "
        "their solutions are inexact%s",
        name, int((~converged).sum()), converged.numel(), tolerance, float(relative.max()), cause,
        " (later failures of this solve are logged at DEBUG level)" if first else "",
    )


class _SPDSolve(torch.autograd.Function):
    """`x = M(params)^{-1} b` by conjugate gradients; backward by the adjoint method."""

    @staticmethod
    def forward(ctx, matvec, tolerance, max_iterations, name, b, *params):
        result = conjugate_gradient(lambda v: matvec(v, *params), b, None, tolerance, max_iterations, name)
        ctx.matvec = matvec
        ctx.settings = (tolerance, max_iterations, f"{name} (adjoint)")
        ctx.save_for_backward(result.solution, *params)
        ctx.mark_non_differentiable(result.iterations, result.residual_norm, result.converged)
        return tuple(result)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_solution, *unused):
        solution, *params = ctx.saved_tensors
        tolerance, max_iterations, name = ctx.settings
        # M is symmetric: the adjoint system M^T g = dL/dx has the forward operator.
        adjoint = conjugate_gradient(
            lambda v: ctx.matvec(v, *params), grad_solution, None, tolerance, max_iterations, name
        ).solution
        wanted = ctx.needs_input_grad[5:]
        param_grads = [None] * len(params)
        if any(wanted):
            # dL/dtheta = -g^T d(M(theta) x)/dtheta at x = x*: a vector-Jacobian product of matvec.
            with torch.enable_grad():
                leaves = [p.detach().requires_grad_(w) for p, w in zip(params, wanted)]
                image = ctx.matvec(solution, *leaves)
                targets = [leaf for leaf, w in zip(leaves, wanted) if w]
                grads = iter(torch.autograd.grad(image, targets, -adjoint, allow_unused=True))
            param_grads = [next(grads) if w else None for w in wanted]
        return (None, None, None, None, adjoint if ctx.needs_input_grad[4] else None, *param_grads)


def spd_solve(
    matvec: Callable[..., torch.Tensor],
    b: torch.Tensor,
    params: Sequence[torch.Tensor] = (),
    tolerance: float = 1e-6,
    max_iterations: int = 100,
    name: str = "spd solve",
) -> CGResult:
    """`x = M(params)^{-1} b` by `conjugate_gradient`, differentiable with respect to `b` and to
    `params` by the adjoint method: the backward pass solves `M g = dL/dx` by conjugate gradients
    (same tolerance and cap) and returns `dL/db = g` and `dL/dparams = -g^T d(M x)/dparams` at the
    solution, a vector-Jacobian product of one `matvec` call.  Memory does not grow with the
    iterations, and the gradient is that of the exact solution up to the solver's tolerance.

    matvec : `(x, *params) -> M(params) x`, with `x` and the result shaped like `b` `(batch, ...)`;
        `M` must be symmetric positive definite for every value of `params` (the adjoint solve
        reuses it), and differentiable in `params` with ordinary autograd.
    params : the tensors `M` depends on (gradients flow to those that require them).

    Returns a `CGResult` whose `solution` is differentiable; its other fields are not.  Only first
    derivatives are supported.
    """
    return CGResult(*_SPDSolve.apply(matvec, tolerance, max_iterations, name, b, *params))
