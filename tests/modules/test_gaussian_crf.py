import logging

import pytest
import torch

from seal.modules.gaussian_crf import gaussian_crf_optimum, gaussian_crf_score, potts_operator
from seal.nn import linear_solvers

B, P, C, D = 3, 7, 2, 3
MASK = torch.tensor([[True] * 7, [True] * 5 + [False] * 2, [True] * 2 + [False] * 5])


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(linear_solvers, "_WARNED", set())


def problem(seed=0, requires_grad=False):
    """Unary `(B, P, C)`, embeddings `(B, P, D)` and lambda, float64, with nonzero padding values."""
    generator = torch.Generator().manual_seed(seed)
    unary = torch.randn(B, P, C, dtype=torch.float64, generator=generator)
    embeddings = torch.randn(B, P, D, dtype=torch.float64, generator=generator)
    diagonal = torch.tensor(0.6, dtype=torch.float64)
    return [t.requires_grad_(requires_grad) for t in (unary, embeddings, diagonal)]


def dense_system(embeddings, diagonal, mask):
    """`A A^T + lambda I` over the real positions, identity rows and columns at padding, `(B, P, P)`."""
    real = mask.unsqueeze(-1).double()
    masked = embeddings * real
    eye = torch.eye(embeddings.size(1), dtype=torch.float64)
    real_pairs = (real * real.transpose(1, 2)).bool()
    return torch.where(real_pairs, masked @ masked.transpose(1, 2) + diagonal * eye, eye)


def dense_optimum(unary, embeddings, diagonal, mask):
    return torch.linalg.solve(dense_system(embeddings, diagonal, mask), unary)


def test_the_operator_is_the_dense_matrix_without_forming_it():
    unary, embeddings, diagonal = problem()
    x = unary.transpose(1, 2).reshape(B * C, P)
    expected = torch.einsum("bpq,bcq->bcp", dense_system(embeddings, diagonal, MASK), unary.transpose(1, 2))
    torch.testing.assert_close(potts_operator(x, embeddings, diagonal, MASK), expected.reshape(B * C, P))


def test_the_optimum_matches_a_dense_solve_with_masks_within_rank_plus_two_iterations():
    unary, embeddings, diagonal = problem()
    result = gaussian_crf_optimum(unary, embeddings, diagonal, MASK, tolerance=1e-12)
    torch.testing.assert_close(result.solution, dense_optimum(unary, embeddings, diagonal, MASK))
    assert result.converged.shape == (B, C) and result.converged.all()
    # lambda I + rank-D term (D + 1 eigenvalues) plus the identity rows of padding
    assert (result.iterations <= D + 2).all()
    padded = ~MASK
    torch.testing.assert_close(result.solution[padded], unary[padded])
    unmasked = gaussian_crf_optimum(unary, embeddings, diagonal, None, tolerance=1e-12).solution
    torch.testing.assert_close(unmasked, dense_optimum(unary, embeddings, diagonal, torch.ones(B, P, dtype=torch.bool)))


def test_the_optimum_maximises_the_score():
    unary, embeddings, diagonal = problem(1)
    optimum = gaussian_crf_optimum(unary, embeddings, diagonal, MASK, tolerance=1e-12).solution
    scores = optimum.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(gaussian_crf_score(scores, unary, embeddings, diagonal, MASK).sum(), scores)
    torch.testing.assert_close(gradient, torch.zeros_like(gradient))
    best = gaussian_crf_score(optimum, unary, embeddings, diagonal, MASK)
    # strictly concave: the score drops by 1/2 d^T (W + lambda I) d >= lambda/2 ||d||^2 at real positions
    for seed in range(5):
        step = torch.randn(B, P, C, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        drop = best - gaussian_crf_score(optimum + step, unary, embeddings, diagonal, MASK)
        lower = 0.5 * diagonal * (step * MASK.unsqueeze(-1)).square().flatten(1).sum(-1)
        assert (drop >= lower - 1e-9).all()


def test_the_score_by_hand_on_one_position():
    scores, unary = torch.tensor([[[2.0]]]), torch.tensor([[[3.0]]])
    embeddings, diagonal = torch.tensor([[[1.0, 2.0]]]), 0.5
    # -1/2 s (|a|^2 + lambda) s + U s = -1/2 * 4 * 5.5 + 6
    torch.testing.assert_close(gaussian_crf_score(scores, unary, embeddings, diagonal), torch.tensor([-5.0]))
    optimum = gaussian_crf_optimum(unary, embeddings, diagonal).solution
    torch.testing.assert_close(optimum, torch.tensor([[[3.0 / 5.5]]]))


def test_the_backward_matches_autograd_through_the_dense_solve_and_the_closed_form():
    unary, embeddings, diagonal = problem(2, requires_grad=True)
    weights = torch.randn(B, P, C, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    optimum = gaussian_crf_optimum(unary, embeddings, diagonal, MASK, tolerance=1e-12).solution
    grads = torch.autograd.grad((weights * optimum).sum(), (unary, embeddings, diagonal))
    dense = dense_optimum(unary, embeddings, diagonal, MASK)
    expected = torch.autograd.grad((weights * dense).sum(), (unary, embeddings, diagonal))
    for grad, reference in zip(grads, expected):
        torch.testing.assert_close(grad, reference)

    # the closed form of the docstring: G solves (W + lambda I) G = dL/ds*
    real = MASK.unsqueeze(-1).double()
    adjoint = torch.linalg.solve(dense_system(embeddings, diagonal, MASK), weights).detach()
    solution, masked = optimum.detach() * real, embeddings.detach() * real
    adjoint_real = adjoint * real
    # -(G S^T + S G^T) A, never forming the P x P matrices
    d_embeddings = -(adjoint_real @ (solution.transpose(1, 2) @ masked)
                     + solution @ (adjoint_real.transpose(1, 2) @ masked))
    torch.testing.assert_close(grads[0], adjoint)
    torch.testing.assert_close(grads[1], d_embeddings)
    torch.testing.assert_close(grads[2], -(adjoint_real * solution).sum())
    assert not grads[1][~MASK].any()


def test_the_backward_passes_gradcheck():
    generator = torch.Generator().manual_seed(4)
    unary = torch.randn(2, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    embeddings = torch.randn(2, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    diagonal = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    assert torch.autograd.gradcheck(
        lambda u, a, lam: gaussian_crf_optimum(u, a, lam, mask, tolerance=1e-13).solution,
        (unary, embeddings, diagonal),
    )


def test_hitting_the_iteration_cap_is_flagged_and_warned(caplog):
    unary, embeddings, diagonal = problem(5)
    with caplog.at_level(logging.WARNING, logger="seal.nn.linear_solvers"):
        result = gaussian_crf_optimum(unary, embeddings, diagonal, None, tolerance=1e-12, max_iterations=1)
    assert not result.converged.all()
    assert "gaussian CRF" in caplog.text and "cap of 1 iterations" in caplog.text


def test_a_non_positive_lambda_or_mismatched_shapes_are_refused():
    unary, embeddings, _ = problem()
    with pytest.raises(ValueError, match="lambda must be a positive"):
        gaussian_crf_optimum(unary, embeddings, 0.0)
    with pytest.raises(ValueError, match="embeddings"):
        gaussian_crf_optimum(unary, embeddings[:, :-1], 1.0)
    with pytest.raises(ValueError, match="mask"):
        gaussian_crf_optimum(unary, embeddings, 1.0, MASK[:, :-1])
