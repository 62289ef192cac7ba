"""The representation cost of a logit matrix and the balanced factors that attain it.

m = L + 1 factors with decays a = (lambda_H, lambda_W_1, ..., lambda_W_L) and
lambda_eff = (prod a)^(1/m). The weighted Schatten quasi-norm

    min { sum_l (a_l/2)||F_l||_F^2 : F_L ... F_0 = Z } = (m/2) lambda_eff sum_i sigma_i(Z)^(2/m)

is attained by the balanced factors F_l = c_l Q_{l+1} Sigma^(1/m) Q_l^T with
c_l^2 = lambda_eff / a_l (:func:`balanced_factors`); docs/conventions.md.
"""

from __future__ import annotations

import numpy as np

from ..model.problem import Params, Problem


def decay_vector(problem: Problem) -> np.ndarray:
    """a = (lambda_H, lambda_W_1, ..., lambda_W_L)."""
    return np.array([problem.lambda_H, *problem.lambda_W], dtype=np.float64)


def geometric_mean(x) -> float:
    """(prod x)^(1/len(x)) in logs, so that deep products of small decays do not underflow."""
    x = np.asarray(x, np.float64)
    return 0.0 if np.any(x == 0) else float(np.exp(np.mean(np.log(x))))


def effective_decay(problem: Problem) -> float:
    """lambda_eff = (lambda_H prod_l lambda_W_l)^(1/(L+1))."""
    return geometric_mean(decay_vector(problem))


def representation_cost(singular_values, decays) -> float:
    """min sum_l (a_l/2)||F_l||^2 over F_{m-1}...F_0 = Z: (m/2)(prod a)^(1/m) sum sigma^(2/m)."""
    a = np.asarray(decays, dtype=np.float64)
    m = a.size
    s = np.asarray(singular_values, dtype=np.float64)
    return float(0.5 * m * geometric_mean(a) * np.sum(s ** (2.0 / m)))


def schatten_cost(Z, decays) -> float:
    """:func:`representation_cost` of a matrix Z."""
    return representation_cost(np.linalg.svd(np.asarray(Z, np.float64), compute_uv=False), decays)


def embedding(d: int, r: int) -> np.ndarray:
    """E = the first r columns of I_d, (d, r): places a rank-r factor in a width-d layer."""
    return np.eye(d, r)


def balanced_factors(U, s, V, problem: Problem) -> Params:
    """Parameters whose product is U diag(s) V^T with minimal weighted norm.

    U (K, r), s (r,), V (N, r) with orthonormal columns; each width must be >= r.
    H_1 = c_0 E_1 S^(1/m) V^T, W_l = c_l E_{l+1} S^(1/m) E_l^T, W_L = c_L U S^(1/m) E_L^T
    with E_l the first r columns of I_{d_l} and c_l^2 = lambda_eff / a_l. With
    U, V >= 0 every factor is non-negative (so ReLU acts as the identity).
    """
    a = decay_vector(problem)
    m = a.size
    c = np.sqrt(geometric_mean(a) / a)
    r = len(s)
    d = problem.widths
    if min(d) < r:
        raise ValueError(f"width must be >= {r} at every layer for this construction, got {list(d)}")
    root = np.diag(np.asarray(s, np.float64) ** (1.0 / m))
    H = c[0] * embedding(d[0], r) @ root @ V.T
    W = [c[l + 1] * embedding(d[l + 1], r) @ root @ embedding(d[l], r).T for l in range(problem.depth - 1)]
    W.append(c[-1] * U @ root @ embedding(d[-1], r).T)
    return Params(H, tuple(W))


def scaled_chain(factors, scale: float, problem: Problem) -> Params:
    """Scale the chain A_0, ..., A_L (product P) to product ``scale`` * P at minimal weighted norm.

    t_l^2 = scale^(2/m) (prod_j a_j ||A_j||^2)^(1/m) / (a_l ||A_l||^2); the cost is
    (m/2)(prod_j a_j ||A_j||^2)^(1/m) scale^(2/m).
    """
    a = decay_vector(problem)
    m = a.size
    norms = np.array([np.sum(A**2) for A in factors])
    t = np.sqrt(scale ** (2.0 / m) * geometric_mean(a * norms) / (a * norms))
    F = [ti * A for ti, A in zip(t, factors)]
    return Params(F[0], tuple(F[1:]))
