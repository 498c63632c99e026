import logging

import pytest
import torch

from seal.nn import linear_solvers
from seal.nn.linear_solvers import conjugate_gradient, spd_solve

LOGGER = "seal.nn.linear_solvers"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test sees the first failure of a solve as a warning."""
    monkeypatch.setattr(linear_solvers, "_WARNED", set())


def spd(eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    """A symmetric matrix with the given eigenvalues and random eigenvectors (float64)."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=generator, dtype=torch.float64))
    return q @ torch.diag(eigenvalues.double()) @ q.T


def batched_matvec(matrices: torch.Tensor):
    return lambda x: torch.einsum("bij,bj->bi", matrices, x)


@pytest.mark.parametrize("log10_condition", [0.0, 2.0, 4.0, 6.0])
def test_matches_a_dense_solve_on_random_spd_batches(log10_condition):
    n = 12
    matrices = torch.stack([spd(torch.logspace(0, log10_condition, n), seed) for seed in range(3)])
    b = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    result = conjugate_gradient(batched_matvec(matrices), b, tolerance=1e-12, max_iterations=500)
    assert result.converged.all()
    expected = torch.linalg.solve(matrices, b)
    # forward error <= condition number * relative residual
    error = (result.solution - expected).norm(dim=-1) / expected.norm(dim=-1)
    assert (error <= 10 ** log10_condition * 1e-11).all()
    true_residual = (b - batched_matvec(matrices)(result.solution)).norm(dim=-1)
    assert (true_residual <= 1e-10 * b.norm(dim=-1)).all()
    torch.testing.assert_close(result.residual_norm, true_residual, rtol=0, atol=1e-10 * float(b.norm()))


def test_each_system_stops_on_its_own_after_as_many_iterations_as_distinct_eigenvalues():
    n = 10
    spectra = [torch.full((n,), 3.0), torch.tensor([1.0, 2.0, 5.0] * 3 + [5.0]), torch.arange(1.0, n + 1)]
    matrices = torch.stack([spd(eigenvalues, seed) for seed, eigenvalues in enumerate(spectra)])
    b = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = conjugate_gradient(batched_matvec(matrices), b, tolerance=1e-10, max_iterations=50)
    assert result.iterations.tolist() == [1, 3, n]
    assert result.converged.all()
    # the systems that stopped early were left alone by the later iterations
    torch.testing.assert_close(result.solution, torch.linalg.solve(matrices, b), rtol=1e-9, atol=1e-12)


def test_a_system_is_everything_after_the_batch_axis():
    matrix = spd(torch.linspace(1, 4, 6), seed=3)
    b = torch.randn(2, 2, 3, dtype=torch.float64)
    result = conjugate_gradient(lambda x: (x.reshape(2, 6) @ matrix).reshape(2, 2, 3), b, tolerance=1e-12)
    torch.testing.assert_close(result.solution.reshape(2, 6), torch.linalg.solve(matrix, b.reshape(2, 6).T).T)
    assert result.iterations.shape == result.converged.shape == (2,)


def test_a_solved_start_takes_no_iteration_and_a_zero_right_hand_side_gives_zero():
    matrix = spd(torch.linspace(1, 4, 5), seed=4)
    b = torch.stack([torch.randn(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)])
    x0 = torch.stack([torch.linalg.solve(matrix, b[0]), torch.ones(5, dtype=torch.float64)])
    result = conjugate_gradient(lambda x: x @ matrix, b, x0=x0, tolerance=1e-8)
    assert result.iterations.tolist() == [0, 0] and result.converged.all()
    torch.testing.assert_close(result.solution[0], x0[0])
    assert not result.solution[1].any()


def test_hitting_the_cap_is_flagged_and_warned_once(caplog):
    matrix = spd(torch.arange(1.0, 9.0), seed=5)
    b = torch.randn(2, 8, dtype=torch.float64)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        result = conjugate_gradient(lambda x: x @ matrix, b, tolerance=1e-10, max_iterations=3, name="my solve")
        conjugate_gradient(lambda x: x @ matrix, b, tolerance=1e-10, max_iterations=3, name="my solve")
    assert not result.converged.any() and result.iterations.tolist() == [3, 3]
    assert (result.residual_norm > 1e-10 * b.norm(dim=-1)).all()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "my solve: 2 of 2 systems" in warnings[0].getMessage()
    assert "cap of 3 iterations" in warnings[0].getMessage()
    assert any(r.levelno == logging.DEBUG and "my solve" in r.getMessage() for r in caplog.records)


def test_an_indefinite_operator_is_a_breakdown_not_an_answer(caplog):
    matrix = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = conjugate_gradient(lambda x: x @ matrix, b, tolerance=1e-10)
    assert result.converged.tolist() == [False, True]
    assert "not positive definite" in caplog.text


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="tolerance"):
        conjugate_gradient(lambda x: x, torch.ones(1, 2), tolerance=0.0)
    with pytest.raises(ValueError, match="batch"):
        conjugate_gradient(lambda x: x, torch.ones(2))


def parameterised_operator(x, factor, shift):
    """`(F F^T + shift I) x` per system: symmetric positive definite for `shift > 0`."""
    return torch.einsum("bij,bkj,bk->bi", factor, factor, x) + shift * x


def test_spd_solve_gradients_match_autograd_through_a_dense_solve():
    generator = torch.Generator().manual_seed(7)
    factor = torch.randn(2, 5, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    shift = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    weights = torch.randn(2, 5, dtype=torch.float64, generator=generator)

    result = spd_solve(parameterised_operator, b, (factor, shift), tolerance=1e-12)
    assert result.converged.all() and not result.iterations.requires_grad
    grads = torch.autograd.grad((weights * result.solution).sum(), (b, factor, shift))

    dense = factor @ factor.transpose(1, 2) + shift * torch.eye(5, dtype=torch.float64)
    expected = torch.linalg.solve(dense, b.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(result.solution, expected)
    for grad, reference in zip(grads, torch.autograd.grad((weights * expected).sum(), (b, factor, shift))):
        torch.testing.assert_close(grad, reference)


def test_spd_solve_passes_gradcheck():
    generator = torch.Generator().manual_seed(8)
    factor = torch.randn(2, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    shift = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda b, factor, shift: spd_solve(parameterised_operator, b, (factor, shift), tolerance=1e-13).solution,
        (b, factor, shift),
    )
