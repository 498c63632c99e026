"""Numerical building blocks with no AllenNLP registration: batched linear solvers."""
from seal.nn.linear_solvers import CGResult, conjugate_gradient, spd_solve
