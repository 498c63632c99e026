"""The implicit hypergradient of a bi-level problem, with Hessian-vector products and never a Hessian.

The problem: inner parameters `psi` minimise an inner objective `L_aux(phi, psi)`, outer parameters
`phi` minimise an outer objective `L(phi, psi)` at the inner solution `psi*(phi)`.  By the implicit
function theorem at a stationary point of the inner objective, the derivative of `L(phi, psi*(phi))`
with respect to `phi` is

    dL/dphi - d2L_aux/(dphi dpsi) [d2L_aux/dpsi2]^-1 dL/dpsi,

the direct gradient plus the implicit term (the term first-order alternation, as in inference
networks, drops).  Every quantity here is a list of tensors, one per parameter (a "parameter
vector"); the inverse-Hessian-vector product `u = H^-1 dL/dpsi` is approximated by a truncated von
Neumann series or conjugate gradients on Hessian-vector products, and the mixed term is the
gradient with respect to `phi` of `<dL_aux/dpsi, u>` with `u` held constant.

Hessian-vector products come from double backward (exact, needs a twice-differentiable inner
objective) or from central differences of gradients (two gradient evaluations per product, no
second derivative: for objectives whose ops have no double backward, or to save the memory of the
double-backward graph).
"""
import contextlib
from typing import Callable, ContextManager, Iterator, List, NamedTuple, Optional, Sequence

import torch
from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError

from seal.nn.linear_solvers import conjugate_gradient

Vector = List[torch.Tensor]
"""A parameter vector: one tensor per parameter, each shaped like its parameter."""

INVERSES = ("neumann", "cg", "identity", "none")
HVPS = ("double-backward", "finite-difference")


# ---- parameter-vector helpers ---------------------------------------------------------------
def norm(u: Sequence[torch.Tensor]) -> float:
    """The Euclidean norm of a parameter vector, as a number."""
    return float(sum(float(a.detach().pow(2).sum()) for a in u) ** 0.5)


def gradients(
    outputs: Sequence[torch.Tensor],
    parameters: Sequence[torch.Tensor],
    grad_outputs: Optional[Sequence[torch.Tensor]] = None,
    create_graph: bool = False,
) -> Vector:
    """`torch.autograd.grad` of `sum_i <grad_outputs[i], outputs[i]>` (of `sum_i outputs[i]` for
    scalars without `grad_outputs`) with respect to `parameters`, with zeros for a parameter the
    outputs do not depend on and for outputs that do not require gradient (constants).  The graph
    is kept, so that it can be differentiated again (Hessian-vector products reuse it)."""
    grad_outputs = list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return [torch.zeros_like(p) for p in parameters]
    found = torch.autograd.grad(
        [o for o, _ in pairs],
        list(parameters),
        grad_outputs=None if grad_outputs[0] is None else [g for _, g in pairs],
        retain_graph=True,
        create_graph=create_graph,
        allow_unused=True,
    )
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, found)]


def _flatten(vector: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in vector]).unsqueeze(0)


def _unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> Vector:
    parts, start = [], 0
    for p in like:
        parts.append(flat[0, start:start + p.numel()].view_as(p))
        start += p.numel()
    return parts


# ---- Hessian-vector products -----------------------------------------------------------------
def hessian_vector_product(loss_gradients: Sequence[torch.Tensor], parameters: Sequence[torch.Tensor],
                           vector: Sequence[torch.Tensor]) -> Vector:
    """`H v` by double backward, `H` the Hessian of a scalar loss with respect to `parameters`.

    loss_gradients : the loss's gradient with respect to `parameters`, computed with
        `create_graph=True` (e.g. `gradients([loss], parameters, create_graph=True)`); computing it
        once serves any number of products, as in a series or CG.
    vector : shaped like `parameters`; treated as a constant.
    """
    return gradients(loss_gradients, parameters, [v.detach() for v in vector])


def finite_difference_gradient_derivative(
    gradient_fn: Callable[[], Sequence[torch.Tensor]],
    parameters: Sequence[torch.Tensor],
    direction: Sequence[torch.Tensor],
    step: float,
) -> Vector:
    """The derivative of `gradient_fn()` along `direction` of `parameters`, by central differences:
    `(g(theta + h d) - g(theta - h d)) / (2 h)` with `h = step / ||d||`, so that the parameters move
    by a distance `step` (not `step * ||d||`).  With `gradient_fn` the gradient of a loss with
    respect to `parameters` it is the Hessian-vector product `H d` (error `O(step^2)`, plus round-off
    `O(eps / step)`: in float32 a `step` near `1e-2` to `1e-3` of the parameters' scale is best);
    with the gradient with respect to other parameters `phi` it is the mixed product
    `d2L/(dphi dpsi) d`.

    The parameters are moved in place (without gradient) and restored exactly, bit for bit;
    `gradient_fn` must recompute its loss from their current values (and draw the same random
    numbers each time, e.g. dropout masks: see `randomness_replay`).  A zero direction gives zeros.
    """
    if step <= 0:
        raise ValueError(f"finite differences need a positive step, got {step}")
    size = norm(direction)
    if size == 0.0:
        return [torch.zeros_like(g) for g in gradient_fn()]
    h = step / size
    originals = [p.detach().clone() for p in parameters]
    try:
        with torch.no_grad():
            for p, o, d in zip(parameters, originals, direction):
                p.copy_(o + h * d)
        forward = [g.detach() for g in gradient_fn()]
        with torch.no_grad():
            for p, o, d in zip(parameters, originals, direction):
                p.copy_(o - h * d)
        backward = [g.detach() for g in gradient_fn()]
    finally:
        with torch.no_grad():
            for p, o in zip(parameters, originals):
                p.copy_(o)
    return [(f - b) / (2 * h) for f, b in zip(forward, backward)]


def randomness_replay() -> Callable[[], ContextManager[None]]:
    """Captures the state of torch's global random number generators (CPU, and CUDA's when
    initialised) and returns `replay`: a context manager under which they start from that state,
    each time it is entered; after it they continue as if nothing had been drawn.  A loss
    recomputed under `replay()` draws the same dropout masks every time, as finite differences
    need."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    cpu_state = torch.get_rng_state()
    cuda_states = [torch.cuda.get_rng_state(d) for d in devices]

    @contextlib.contextmanager
    def replay() -> Iterator[None]:
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cpu_state)
            for device, state in zip(devices, cuda_states):
                torch.cuda.set_rng_state(state, device)
            yield

    return replay


# ---- inverse-Hessian-vector products ---------------------------------------------------------
def neumann_inverse_hvp(hvp: Callable[[Vector], Vector], vector: Sequence[torch.Tensor], num_terms: int,
                        alpha: float) -> Vector:
    """`alpha * sum_{k < num_terms} (I - alpha H)^k v`, the truncated von Neumann series of `H^-1 v`
    (`num_terms - 1` Hessian-vector products).

    It converges to `H^-1 v` as `num_terms` grows when every eigenvalue `lambda` of `H` satisfies
    `0 < alpha lambda < 2` (`H` positive definite, `alpha < 2 / lambda_max`), with error
    `|1 - alpha lambda|^num_terms` along each eigenvector.  It is also exactly the derivative through
    `num_terms` steps of gradient descent with step `alpha` on the inner objective started at its
    solution (Lorraine et al., 2020), so when `H` is indefinite (away from a minimum) or `alpha` too
    large, the truncated sum stays finite and means "differentiate through a short unrolled inner
    optimisation", while the directions of negative curvature grow as `(1 + alpha |lambda|)^k` with
    the number of terms: keep the series short and `alpha` small there.  `num_terms = 1` gives
    `alpha v` (the identity approximation, scaled).
    """
    if num_terms < 1 or not alpha > 0:
        raise ValueError(f"the Neumann series needs num_terms >= 1 and alpha > 0, got {num_terms}, {alpha}")
    term = [v.detach() for v in vector]
    total = list(term)
    for _ in range(num_terms - 1):
        term = [t - alpha * h for t, h in zip(term, hvp(term))]
        total = [s + t for s, t in zip(total, term)]
    return [alpha * s for s in total]


def cg_inverse_hvp(hvp: Callable[[Vector], Vector], vector: Sequence[torch.Tensor], max_iterations: int,
                   tolerance: float) -> Vector:
    """`H^-1 v` by conjugate gradients (`seal.nn.linear_solvers.conjugate_gradient`, one system of
    all parameters), one Hessian-vector product per iteration.

    CG needs `H` symmetric positive definite.  When `H` is indefinite (away from a minimum of the
    inner objective) CG stops at the first search direction of non-positive curvature and returns
    the iterate reached before it (the minimiser of the quadratic model on the Krylov subspace
    explored so far, where it was still convex), and the solver logs a warning; a `damping` of the
    Hessian (`ImplicitHypergradient`) makes `H + damping I` positive definite when `damping`
    exceeds `-lambda_min`.  A cap on iterations gives the same kind of truncated, logged answer.
    """
    like = [v.detach() for v in vector]

    def matvec(flat: torch.Tensor) -> torch.Tensor:
        return _flatten(hvp(_unflatten(flat, like)))

    result = conjugate_gradient(matvec, _flatten(like), tolerance=tolerance, max_iterations=max_iterations,
                                name="inverse Hessian-vector product (CG)")
    return _unflatten(result.solution, like)


# ---- the hypergradient -----------------------------------------------------------------------
class Hypergradient(NamedTuple):
    """The hypergradient with respect to the outer parameters, in its two parts (parameter vectors
    shaped like the outer parameters), all without gradient."""

    direct: Vector
    implicit: Vector

    @property
    def total(self) -> Vector:
        return [d + i for d, i in zip(self.direct, self.implicit)]


class ImplicitHypergradient(FromParams):
    """How the implicit hypergradient is approximated (see the module docstring).

    # Parameters
    inverse : `str`, optional (default = `"neumann"`)
        `"neumann"` (truncated von Neumann series), `"cg"` (conjugate gradients), `"identity"`
        (`H^-1` replaced by `I`: the implicit term `-d2L_aux/(dphi dpsi) dL/dpsi`, the one-step
        unrolled approximation of Luketina et al., 2016) or `"none"` (no implicit term: the direct
        gradient alone, which is what first-order alternation as in inference networks follows;
        for ablation).
    num_terms : `int`, optional (default = `5`)
        Terms of the Neumann series (`num_terms - 1` Hessian-vector products).
    alpha : `float`, optional (default = `0.01`)
        The series' preconditioning scale: it converges for `alpha < 2 / lambda_max(H)`.
    cg_iterations : `int`, optional (default = `10`)
        Cap on conjugate-gradient iterations (one Hessian-vector product each).
    cg_tolerance : `float`, optional (default = `1e-3`)
        Relative residual at which conjugate gradients stop.
    damping : `float`, optional (default = `0.0`)
        The Hessian is replaced by `H + damping I` (Tikhonov damping): a positive `damping` shifts
        the spectrum away from 0 and from negative curvature.
    hvp : `str`, optional (default = `"double-backward"`)
        `"double-backward"` or `"finite-difference"` (central differences of gradients, also for the
        mixed term).
    finite_difference_step : `float`, optional (default = `1e-2`)
        The distance the parameters move in each finite difference.
    """

    def __init__(
        self,
        inverse: str = "neumann",
        num_terms: int = 5,
        alpha: float = 0.01,
        cg_iterations: int = 10,
        cg_tolerance: float = 1e-3,
        damping: float = 0.0,
        hvp: str = "double-backward",
        finite_difference_step: float = 1e-2,
    ) -> None:
        if inverse not in INVERSES:
            raise ConfigurationError(f"hypergradient inverse must be one of {INVERSES}, got {inverse!r}")
        if hvp not in HVPS:
            raise ConfigurationError(f"hypergradient hvp must be one of {HVPS}, got {hvp!r}")
        if num_terms < 1 or not alpha > 0:
            raise ConfigurationError(f"hypergradient needs num_terms >= 1 and alpha > 0, got {num_terms}, {alpha}")
        if cg_iterations < 1 or not cg_tolerance > 0 or damping < 0 or not finite_difference_step > 0:
            raise ConfigurationError(
                "hypergradient needs cg_iterations >= 1, cg_tolerance > 0, damping >= 0 and "
                f"finite_difference_step > 0, got {cg_iterations}, {cg_tolerance}, {damping}, {finite_difference_step}"
            )
        self.inverse = inverse
        self.num_terms = num_terms
        self.alpha = alpha
        self.cg_iterations = cg_iterations
        self.cg_tolerance = cg_tolerance
        self.damping = damping
        self.hvp = hvp
        self.finite_difference_step = finite_difference_step

    def __call__(
        self,
        outer_loss: torch.Tensor,
        inner_objective: Callable[[], torch.Tensor],
        outer_parameters: Sequence[torch.Tensor],
        inner_parameters: Sequence[torch.Tensor],
    ) -> Hypergradient:
        """The hypergradient of `outer_loss` with respect to `outer_parameters` (`phi`), at the
        current inner parameters (`psi`), taken as the inner solution.

        outer_loss : scalar `L(phi, psi)`, with its graph to both parameter sets (its dependence on
            `psi` is what the implicit term propagates).
        inner_objective : `() -> L_aux(phi, psi)`, a scalar computed from the current parameter
            values: called once for double backward, `2 + 2 * (number of products)` times, under
            `randomness_replay`, for finite differences.
        """
        phi, psi = list(outer_parameters), list(inner_parameters)
        found = gradients([outer_loss], phi + psi)
        direct = [g.detach() for g in found[:len(phi)]]
        outer_psi = [g.detach() for g in found[len(phi):]]
        if self.inverse == "none" or norm(outer_psi) == 0.0:
            return Hypergradient(direct, [torch.zeros_like(p) for p in phi])
        if self.hvp == "double-backward":
            inner_psi = gradients([inner_objective()], psi, create_graph=True)
            u = self._inverse(lambda v: hessian_vector_product(inner_psi, psi, v), outer_psi)
            mixed = gradients(inner_psi, phi, [t.detach() for t in u])
        else:
            replay = randomness_replay()

            def gradient_of_inner(wrt: Sequence[torch.Tensor]) -> Callable[[], Vector]:
                def compute() -> Vector:
                    with replay():
                        return gradients([inner_objective()], wrt)
                return compute

            step = self.finite_difference_step
            u = self._inverse(
                lambda v: finite_difference_gradient_derivative(gradient_of_inner(psi), psi, v, step), outer_psi
            )
            mixed = finite_difference_gradient_derivative(gradient_of_inner(phi), psi, u, step)
        return Hypergradient(direct, [-m.detach() for m in mixed])

    def _inverse(self, hvp: Callable[[Vector], Vector], vector: Vector) -> Vector:
        """`(H + damping I)^-1 vector` by the configured approximation."""
        if self.inverse == "identity":
            return vector

        def damped(v: Vector) -> Vector:
            return [h + self.damping * x for h, x in zip(hvp(v), v)] if self.damping > 0 else hvp(v)

        if self.inverse == "neumann":
            return neumann_inverse_hvp(damped, vector, self.num_terms, self.alpha)
        return cg_inverse_hvp(damped, vector, self.cg_iterations, self.cg_tolerance)


def surrogate_loss(value: torch.Tensor, parameters: Sequence[torch.Tensor], gradient: Sequence[torch.Tensor]
                   ) -> torch.Tensor:
    """A scalar equal to `value` whose gradient with respect to `parameters` is `gradient` (and 0
    with respect to everything else): `value + sum_i <p_i - stop(p_i), g_i>`.  Lets a trainer that
    backpropagates a loss apply a gradient computed otherwise (a hypergradient)."""
    shift = sum(((p - p.detach()) * g.detach()).sum() for p, g in zip(parameters, gradient))
    return value.detach() + shift
