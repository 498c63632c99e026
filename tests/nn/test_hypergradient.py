"""Hessian-vector products, inverse-Hessian-vector products and the implicit hypergradient against
explicit Hessians, exact solves and closed-form inner solutions (float64)."""
import logging

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.nn import linear_solvers
from seal.nn.hypergradient import (
    ImplicitHypergradient,
    cg_inverse_hvp,
    finite_difference_gradient_derivative,
    gradients,
    hessian_vector_product,
    neumann_inverse_hvp,
    randomness_replay,
    surrogate_loss,
)

DTYPE = torch.float64


def flat(vector):
    return torch.cat([v.reshape(-1) for v in vector])


def split(values, like):
    parts, start = [], 0
    for p in like:
        parts.append(values[start:start + p.numel()].view_as(p))
        start += p.numel()
    return parts


def relative_error(actual, expected):
    return float((flat(actual) - flat(expected)).norm() / flat(expected).norm())


# ---- a tiny net ------------------------------------------------------------------------------
def tiny_net(seed=0):
    """Parameters of a 3-4-2 softplus MLP and a batch; `loss(params)` its squared-error loss."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    params = [torch.nn.Parameter(torch.randn(*s, generator=generator, dtype=DTYPE)) for s in shapes]
    x = torch.randn(5, 3, generator=generator, dtype=DTYPE)
    t = torch.randn(5, 2, generator=generator, dtype=DTYPE)

    def loss(w1, b1, w2, b2, dropout_mask=None):
        hidden = torch.nn.functional.softplus(x @ w1.T + b1)
        if dropout_mask is not None:
            hidden = hidden * dropout_mask
        return ((hidden @ w2.T + b2 - t) ** 2).sum() + (w1 ** 3).sum()

    return params, loss


def random_vector(like, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=generator, dtype=DTYPE) for p in like]


def test_double_backward_hvp_equals_the_explicit_hessian_times_the_vector():
    params, loss = tiny_net()
    hessian = torch.autograd.functional.hessian(lambda values: loss(*split(values, params)), flat(params).detach())
    v = random_vector(params)
    loss_gradients = gradients([loss(*params)], params, create_graph=True)
    for seed in (1, 2):  # one gradient graph serves several products
        v = random_vector(params, seed)
        torch.testing.assert_close(flat(hessian_vector_product(loss_gradients, params, v)), hessian @ flat(v))


def test_finite_difference_hvp_agrees_with_double_backward_and_restores_the_parameters():
    params, loss = tiny_net()
    before = [p.detach().clone() for p in params]
    v = random_vector(params)
    exact = hessian_vector_product(gradients([loss(*params)], params, create_graph=True), params, v)
    approximate = finite_difference_gradient_derivative(lambda: gradients([loss(*params)], params), params, v, 1e-4)
    assert relative_error(approximate, exact) < 1e-7
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    # the error is O(step^2): a coarse step is visibly worse, so the comparison can fail
    coarse = finite_difference_gradient_derivative(lambda: gradients([loss(*params)], params), params, v, 1.0)
    assert relative_error(coarse, exact) > 1e-4


def test_finite_differences_replay_the_random_numbers_of_a_stochastic_loss():
    params, loss = tiny_net()
    v = random_vector(params)

    def stochastic_loss():  # dropout on the hidden layer, drawn from the global generator
        return loss(*params, dropout_mask=torch.bernoulli(torch.full((5, 4), 0.5, dtype=DTYPE)) * 2)

    torch.manual_seed(3)
    replay = randomness_replay()
    with replay():
        exact = hessian_vector_product(gradients([stochastic_loss()], params, create_graph=True), params, v)

    def replayed_gradient():
        with replay():
            return gradients([stochastic_loss()], params)

    approximate = finite_difference_gradient_derivative(replayed_gradient, params, v, 1e-4)
    assert relative_error(approximate, exact) < 1e-7
    # without the replay each evaluation draws another mask: not an HVP at all
    unreplayed = finite_difference_gradient_derivative(lambda: gradients([stochastic_loss()], params), params, v, 1e-4)
    assert relative_error(unreplayed, exact) > 1.0


# ---- inverse-Hessian-vector products on a known SPD matrix -------------------------------------
def spd(eigenvalues, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=generator, dtype=DTYPE))
    return q @ torch.diag(torch.as_tensor(eigenvalues, dtype=DTYPE)) @ q.T


def quadratic_hvp(matrix, like):
    """The Hessian-vector product of `0.5 x^T M x` over parameters shaped like `like`, by double backward."""
    x = [torch.nn.Parameter(torch.zeros_like(p)) for p in like]
    loss_gradients = gradients([0.5 * flat(x) @ matrix @ flat(x)], x, create_graph=True)
    return lambda v: hessian_vector_product(loss_gradients, x, v)


def test_neumann_series_with_enough_terms_and_cg_give_the_exact_inverse_hvp():
    like = [torch.zeros(2, 3, dtype=DTYPE), torch.zeros(4, dtype=DTYPE)]
    eigenvalues = torch.linspace(1.0, 5.0, 10)
    matrix = spd(eigenvalues)
    hvp = quadratic_hvp(matrix, like)
    v = random_vector(like)
    exact = split(torch.linalg.solve(matrix, flat(v)), like)
    # error |1 - alpha lambda_min|^K = 0.8^150 along the slowest eigenvector
    assert relative_error(neumann_inverse_hvp(hvp, v, 150, 1 / 5.0), exact) < 1e-12
    assert relative_error(neumann_inverse_hvp(hvp, v, 10, 1 / 5.0), exact) > 1e-2  # truncated: not yet
    assert relative_error(cg_inverse_hvp(hvp, v, 50, 1e-12), exact) < 1e-10


def test_one_neumann_term_is_the_scaled_identity():
    like = [torch.zeros(3, dtype=DTYPE)]
    v = random_vector(like)
    torch.testing.assert_close(neumann_inverse_hvp(quadratic_hvp(spd([1.0, 2.0, 3.0]), like), v, 1, 0.3)[0], 0.3 * v[0])


def test_neumann_series_is_the_derivative_of_unrolled_gradient_descent_also_when_indefinite():
    # d x_K / d b for K steps of gradient descent with step alpha on 0.5 x^T H x - b^T x from x0 = 0
    # is alpha sum_{k<K} (I - alpha H)^k: the series' meaning where H is not positive definite.
    matrix = spd([-1.0, 0.5, 2.0])
    like = [torch.zeros(3, dtype=DTYPE)]
    v = random_vector(like)
    b = torch.zeros(3, dtype=DTYPE, requires_grad=True)
    x = torch.zeros(3, dtype=DTYPE)
    for _ in range(6):
        x = x - 0.2 * (matrix @ x - b)
    (unrolled,) = torch.autograd.grad(x @ v[0], b)
    torch.testing.assert_close(neumann_inverse_hvp(quadratic_hvp(matrix, like), v, 6, 0.2)[0], unrolled)


def test_cg_on_an_indefinite_hessian_stops_finite_and_warns(monkeypatch, caplog):
    monkeypatch.setattr(linear_solvers, "_WARNED", set())
    like = [torch.zeros(4, dtype=DTYPE)]
    matrix = spd([-2.0, -1.0, 1.0, 3.0])
    with caplog.at_level(logging.WARNING, logger="seal.nn.linear_solvers"):
        solution = cg_inverse_hvp(quadratic_hvp(matrix, like), random_vector(like), 50, 1e-10)
    assert torch.isfinite(solution[0]).all()
    assert "not positive definite" in caplog.text


# ---- the hypergradient on a quadratic inner problem with a closed-form solution ---------------
class QuadraticBilevel:
    """Inner: `L_aux(phi, psi) = 0.5 psi^T A(phi) psi - b(phi)^T psi` with `A(phi) = A0 +
    diag(exp(C phi))` (positive definite) and `b(phi) = B tanh(phi)`, so `psi*(phi) = A^-1 b`.
    Outer: `L(phi, psi) = 0.5 ||psi - t||^2 + 0.5 ||phi||^2 sum(psi)`."""

    def __init__(self, seed=0, n=6, m=3):
        generator = torch.Generator().manual_seed(seed)
        self.a0 = spd(torch.linspace(0.5, 2.0, n), seed)
        self.c = 0.3 * torch.randn(n, m, generator=generator, dtype=DTYPE)
        self.b = torch.randn(n, m, generator=generator, dtype=DTYPE)
        self.t = torch.randn(n, generator=generator, dtype=DTYPE)
        self.phi = torch.nn.Parameter(0.5 * torch.randn(m, generator=generator, dtype=DTYPE))
        self.psi = torch.nn.Parameter(torch.zeros(n, dtype=DTYPE))

    def matrix(self, phi):
        return self.a0 + torch.diag(torch.exp(self.c @ phi))

    def inner(self, phi, psi):
        return 0.5 * psi @ self.matrix(phi) @ psi - (self.b @ torch.tanh(phi)) @ psi

    def outer(self, phi, psi):
        return 0.5 * ((psi - self.t) ** 2).sum() + 0.5 * (phi ** 2).sum() * psi.sum()

    def solve_inner(self):
        with torch.no_grad():
            self.psi.copy_(torch.linalg.solve(self.matrix(self.phi), self.b @ torch.tanh(self.phi)))

    def exact_hypergradient(self):
        phi = self.phi.detach().requires_grad_(True)
        solution = torch.linalg.solve(self.matrix(phi), self.b @ torch.tanh(phi))
        return list(torch.autograd.grad(self.outer(phi, solution), phi))

    def unrolled_hypergradient(self, steps=300, step_size=0.3):
        """Differentiation through `steps` of gradient descent on the inner objective from 0."""
        phi = self.phi.detach().requires_grad_(True)
        psi = torch.zeros_like(self.psi, requires_grad=True)
        for _ in range(steps):
            (gradient,) = torch.autograd.grad(self.inner(phi, psi), psi, create_graph=True)
            psi = psi - step_size * gradient
        return list(torch.autograd.grad(self.outer(phi, psi), phi)), psi.detach()

    def hypergradient(self, **settings):
        return ImplicitHypergradient(**settings)(
            self.outer(self.phi, self.psi), lambda: self.inner(self.phi, self.psi), [self.phi], [self.psi]
        )


# lambda(A) in [0.5, 2 + max exp(C phi)], about 3 here: alpha 0.25 converges, by 0.875^K at worst.
CONVERGED = [
    dict(inverse="neumann", num_terms=120, alpha=0.25),
    dict(inverse="cg", cg_iterations=50, cg_tolerance=1e-12),
    dict(inverse="neumann", num_terms=120, alpha=0.25, hvp="finite-difference", finite_difference_step=1e-4),
    dict(inverse="cg", cg_iterations=50, cg_tolerance=1e-10, hvp="finite-difference", finite_difference_step=1e-4),
]


@pytest.mark.parametrize("settings", CONVERGED, ids=lambda s: f"{s['inverse']}-{s.get('hvp', 'double-backward')}")
def test_hypergradient_at_the_closed_form_inner_solution_is_the_exact_one(settings):
    problem = QuadraticBilevel()
    problem.solve_inner()
    result = problem.hypergradient(**settings)
    exact = problem.exact_hypergradient()
    assert relative_error(result.total, exact) < 1e-3
    # the implicit term matters here: the direct gradient alone is far off
    assert relative_error(result.direct, exact) > 0.1


def test_hypergradient_matches_differentiation_through_a_long_unrolled_inner_optimisation():
    problem = QuadraticBilevel(seed=1)
    unrolled, psi_end = problem.unrolled_hypergradient()
    with torch.no_grad():
        problem.psi.copy_(psi_end)  # the inner solution the unrolled optimisation reached
    result = problem.hypergradient(inverse="neumann", num_terms=120, alpha=0.25)
    assert relative_error(result.total, unrolled) < 1e-3


def test_a_short_series_and_the_ablations_are_approximations():
    problem = QuadraticBilevel()
    problem.solve_inner()
    exact = problem.exact_hypergradient()
    short = problem.hypergradient(inverse="neumann", num_terms=2, alpha=0.25)
    none = problem.hypergradient(inverse="none")
    identity = problem.hypergradient(inverse="identity")
    assert relative_error(short.total, exact) > 1e-3
    assert all(torch.equal(i, torch.zeros_like(i)) for i in none.implicit)
    torch.testing.assert_close(none.direct, short.direct)
    # identity: the implicit term is -d2L_aux/(dphi dpsi) dL/dpsi
    phi = problem.phi
    inner_psi = torch.autograd.grad(problem.inner(phi, problem.psi), problem.psi, create_graph=True)[0]
    outer_psi = torch.autograd.grad(problem.outer(phi, problem.psi), problem.psi)[0]
    (mixed,) = torch.autograd.grad(inner_psi @ outer_psi, phi)
    torch.testing.assert_close(identity.implicit[0], -mixed)


def test_damping_shifts_the_inverted_hessian():
    problem = QuadraticBilevel()
    problem.solve_inner()
    damped = problem.hypergradient(inverse="cg", cg_iterations=50, cg_tolerance=1e-12, damping=1.0)
    # by hand: u = (H + I)^-1 dL/dpsi, H = A(phi), implicit = -d/dphi <dL_aux/dpsi, u>
    phi, psi = problem.phi, problem.psi
    outer_psi = torch.autograd.grad(problem.outer(phi, psi), psi)[0]
    u = torch.linalg.solve(problem.matrix(phi).detach() + torch.eye(len(psi), dtype=DTYPE), outer_psi)
    inner_psi = torch.autograd.grad(problem.inner(phi, psi), psi, create_graph=True)[0]
    (mixed,) = torch.autograd.grad(inner_psi @ u, phi)
    torch.testing.assert_close(damped.implicit[0], -mixed)


def test_an_outer_loss_independent_of_the_inner_parameters_has_no_implicit_term():
    problem = QuadraticBilevel()
    calls = []

    def inner():
        calls.append(1)
        return problem.inner(problem.phi, problem.psi)

    result = ImplicitHypergradient()((problem.phi ** 2).sum(), inner, [problem.phi], [problem.psi])
    assert not calls  # no Hessian-vector product was needed
    torch.testing.assert_close(result.total[0], 2 * problem.phi.detach())


def test_surrogate_loss_has_the_value_and_the_given_gradient():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=DTYPE))
    b = torch.nn.Parameter(torch.tensor(3.0, dtype=DTYPE))
    value = (a ** 2).sum() * b
    wanted = torch.tensor([5.0, -1.0], dtype=DTYPE)
    loss = surrogate_loss(value, [a], [wanted])
    assert loss.item() == pytest.approx(15.0)
    loss.backward()
    torch.testing.assert_close(a.grad, wanted)
    assert b.grad is None


def test_configuration_errors():
    with pytest.raises(ConfigurationError, match="inverse"):
        ImplicitHypergradient(inverse="lu")
    with pytest.raises(ConfigurationError, match="hvp"):
        ImplicitHypergradient(hvp="exact")
    with pytest.raises(ConfigurationError, match="alpha"):
        ImplicitHypergradient(alpha=0.0)
    built = ImplicitHypergradient.from_params(Params({"inverse": "cg", "cg_iterations": 3}))
    assert (built.inverse, built.cg_iterations, built.num_terms) == ("cg", 3, 5)
