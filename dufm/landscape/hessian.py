"""The Hessian of the deep UFM objective: products, dense matrix, spectra, traces.

Parameters are the pytree of :mod:`dufm.model.objective`; flat vectors follow
``jax.flatten_util.ravel_pytree(params)`` (P = ``Problem.parameter_count``
entries: H_1, then W_1 ... W_L, then b). Everything is float64 when the
problem is.

* :func:`hvp` — Hessian-vector product, forward-over-reverse
  (``jax.jvp`` of ``jax.grad``): cost a small multiple of one gradient.
* :func:`hessian_matrix` — the dense symmetric P x P Hessian, built from
  vmapped HVPs against blocks of the identity (ground truth for the rest).
* :func:`inertia` — counts of eigenvalues below -tau, in [-tau, tau] and
  above tau from two LDL^T factorisations (Sylvester's law of inertia;
  LAPACK ``dsytrf``), a third the cost of a full eigendecomposition.
* :func:`lanczos_extremes` — matrix-free extreme eigenvalues by Lanczos with
  full reorthogonalisation (``matfree.decomp.tridiag_sym``), with the
  residual ||H v - theta v|| of each Ritz pair: a true eigenvalue lies within
  that residual of theta (Kahan's bound for symmetric matrices).
* :func:`slq_density` — stochastic Lanczos quadrature (Ubaru, Chen & Saad
  2017): per probe vector v, the k-point Gauss quadrature (nodes theta_j,
  weights tau_j = (e_1^T q_j)^2) of the spectral measure of H seen from v;
  averaged over probes it estimates the spectral density (1/P) sum_i
  delta(lambda - lambda_i). Weights sum to 1 per probe, and
  sum_j tau_j theta_j^p = v^T H^p v / ||v||^2 exactly for p <= 2k - 1.
* :func:`hutchinson` — Hutchinson's estimators of tr H and ||H||_F^2 with
  Rademacher probes (``matfree.stochtrace``), with their standard errors.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from matfree import decomp, stochtrace
from scipy.linalg import lapack

from ..model.objective import objective
from ..model.problem import Architecture, Decays
from ..runtime import float64


class RitzExtremes(NamedTuple):
    """Extreme Ritz values of a Lanczos run and the residuals ||H v - theta v|| of their unit Ritz vectors.

    An eigenvalue of H lies within ``min_residual`` of ``min`` (and within
    ``max_residual`` of ``max``); ``ritz_values`` are all k Ritz values.
    """

    min: float
    max: float
    min_residual: float
    max_residual: float
    ritz_values: np.ndarray
    num_matvecs: int


class TraceEstimate(NamedTuple):
    """Hutchinson estimates of tr H and ||H||_F with the standard errors of the mean over probes."""

    trace: float
    trace_stderr: float
    frobenius_norm: float
    frobenius_norm_stderr: float
    num_samples: int


def _as_jax(params):
    return jax.tree_util.tree_map(jnp.asarray, params)


@float64
def flatten(params) -> np.ndarray:
    """The flat parameter vector (P,) in ravel_pytree order."""
    return np.asarray(ravel_pytree(_as_jax(params))[0])


@float64
def unflatten_like(params, x):
    """The pytree shaped like ``params`` whose flat vector is ``x``."""
    return ravel_pytree(_as_jax(params))[1](jnp.asarray(x))


@float64
def hvp(params, tangent, decays: Decays, arch: Architecture):
    """H(params) @ tangent for pytrees shaped like ``params`` (forward-over-reverse)."""
    grad = jax.grad(lambda p: objective(p, decays, arch))
    return jax.jvp(grad, (params,), (tangent,))[1]


def _hvp_flat(params, v, decays, arch):
    unravel = ravel_pytree(params)[1]
    return ravel_pytree(hvp(params, unravel(v), decays, arch))[0]


_hvp_jit = jax.jit(_hvp_flat, static_argnums=3)
_hvp_block = jax.jit(jax.vmap(_hvp_flat, in_axes=(None, 0, None, None)), static_argnums=3)


@float64
def operator(params, decays: Decays, arch: Architecture):
    """A jitted flat matvec v (P,) -> H v (P,) at ``params``; also returns P."""
    params = _as_jax(params)
    P = ravel_pytree(params)[0].size
    return float64(lambda v: _hvp_jit(params, jnp.asarray(v), decays, arch)), P


@float64
def hessian_matrix(params, decays: Decays, arch: Architecture, block: int = 256) -> np.ndarray:
    """The dense Hessian (P, P) as a numpy array, symmetrised: (H + H^T)/2.

    Built from P HVPs, ``block`` at a time (memory: P^2 + block * P floats).
    """
    params = _as_jax(params)
    x = ravel_pytree(params)[0]
    P = x.size
    H = np.empty((P, P), dtype=np.dtype(x.dtype))
    for i in range(0, P, block):
        rows = min(block, P - i)
        E = jnp.zeros((block, P), x.dtype).at[jnp.arange(rows), i + jnp.arange(rows)].set(1.0)
        H[i : i + rows] = np.asarray(_hvp_block(params, E, decays, arch))[:rows]
    H += H.T
    H *= 0.5
    return H


def _ldl_negative(A: np.ndarray) -> int:
    """Number of negative eigenvalues of the symmetric A, from its Bunch-Kaufman LDL^T factorisation."""
    ldu, ipiv, info = lapack.dsytrf(A, lower=1, overwrite_a=True)
    if info < 0:
        raise ValueError(f"dsytrf: illegal argument {-info}")
    d = np.diagonal(ldu).copy()
    e = np.diagonal(ldu, -1)
    negative, i, P = 0, 0, A.shape[0]
    while i < P:
        if ipiv[i] > 0:  # 1x1 pivot block
            negative += d[i] < 0
            i += 1
        else:  # 2x2 pivot block [[d_i, e_i], [e_i, d_{i+1}]]
            negative += int(np.sum(np.linalg.eigvalsh(np.array([[d[i], e[i]], [e[i], d[i + 1]]])) < 0))
            i += 2
    return int(negative)


def inertia(H: np.ndarray, tau: float) -> tuple[int, int, int]:
    """(negative, zero, positive): eigenvalues < -tau, in [-tau, tau], > tau, of the symmetric H.

    Sylvester's law of inertia on H + tau I and H - tau I (two LDL^T
    factorisations, P^3/3 flops each). ``tau`` must be > 0 (it separates
    the counts from rounding).
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    P = H.shape[0]
    A = H.copy()  # one P x P work array, factorised in place twice
    A.flat[:: P + 1] += tau
    below = _ldl_negative(A)  # eigenvalues < -tau
    A[...] = H
    A.flat[:: P + 1] -= tau
    at_most = _ldl_negative(A)  # eigenvalues < tau
    return below, at_most - below, P - at_most


@partial(jax.jit, static_argnums=(3, 4))
def _lanczos(params, decays, key, arch, k):
    x = ravel_pytree(params)[0]
    matvec = lambda v: _hvp_flat(params, v, decays, arch)  # noqa: E731
    v0 = jax.random.normal(key, x.shape, x.dtype)
    Q, T, *_ = decomp.tridiag_sym(k, materialize=True, custom_vjp=False)(matvec, v0 / jnp.linalg.norm(v0))
    theta, S = jnp.linalg.eigh(T)
    V = S[:, jnp.array([0, k - 1])].T @ Q  # Ritz vectors of the extreme Ritz values, (2, P)
    HV = jax.vmap(matvec)(V)
    residual = jnp.linalg.norm(HV - theta[jnp.array([0, k - 1]), None] * V, axis=1)
    return theta, residual


@float64
def lanczos_extremes(params, decays: Decays, arch: Architecture, num_matvecs: int = 200, seed: int = 0) -> RitzExtremes:
    """Smallest and largest eigenvalues of H by Lanczos (full reorthogonalisation), matrix-free.

    Returns the extreme Ritz values and ||H v - theta v|| of their (unit)
    Ritz vectors (:class:`RitzExtremes`), so that an eigenvalue of H lies within
    ``min_residual`` of ``min`` (and likewise for max). Lanczos can miss an
    eigenvalue only when the start vector is (numerically) orthogonal to its
    eigenvector; a random start makes that a probability-zero event.
    """
    params = _as_jax(params)
    P = ravel_pytree(params)[0].size
    k = int(min(num_matvecs, P))
    if k < 2:
        raise ValueError(f"num_matvecs must be >= 2, got {num_matvecs}")
    theta, res = _lanczos(params, decays, jax.random.PRNGKey(seed), arch, k)
    theta, res = np.asarray(theta), np.asarray(res)
    return RitzExtremes(float(theta[0]), float(theta[-1]), float(res[0]), float(res[1]), theta, k)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _slq(params, decays, key, arch, k, num_samples):
    x = ravel_pytree(params)[0]
    matvec = lambda v: _hvp_flat(params, v, decays, arch)  # noqa: E731
    tridiag = decomp.tridiag_sym(k, materialize=True, custom_vjp=False)

    def one(v):
        _, T, *_ = tridiag(matvec, v / jnp.linalg.norm(v))
        theta, S = jnp.linalg.eigh(T)
        return theta, S[0] ** 2

    probes = jax.random.rademacher(key, (num_samples, x.size), x.dtype)
    return jax.lax.map(one, probes)


@float64
def slq_density(params, decays: Decays, arch: Architecture, num_matvecs: int = 80, num_samples: int = 8, seed: int = 0):
    """Stochastic Lanczos quadrature: ``(nodes, weights)``, each (num_samples, k).

    The estimated spectral density is (1/num_samples) sum_s sum_j
    weights[s, j] delta(lambda - nodes[s, j]); every row of ``weights``
    sums to 1. Rademacher probes.
    """
    params = _as_jax(params)
    P = ravel_pytree(params)[0].size
    k = int(min(num_matvecs, P))
    if k < 1 or num_samples < 1:
        raise ValueError(f"num_matvecs and num_samples must be >= 1, got {num_matvecs}, {num_samples}")
    nodes, weights = _slq(params, decays, jax.random.PRNGKey(seed), arch, k, int(num_samples))
    return np.asarray(nodes), np.asarray(weights)


def smoothed_density(nodes, weights, grid, width: float) -> np.ndarray:
    """The SLQ density convolved with a Gaussian of standard deviation ``width``, on ``grid``."""
    nodes, weights = np.ravel(nodes), np.ravel(weights) / np.shape(nodes)[0]
    z = (np.asarray(grid)[:, None] - nodes[None, :]) / width
    return (np.exp(-0.5 * z**2) / (width * np.sqrt(2 * np.pi))) @ weights


@partial(jax.jit, static_argnums=(3, 4))
def _hutchinson(params, decays, key, arch, num_samples):
    matvec = lambda v: _hvp_flat(params, v, decays, arch)  # noqa: E731
    x = ravel_pytree(params)[0]
    sampler = stochtrace.sampler_signs(x, num=num_samples)
    probes = sampler(key)
    trace = jax.lax.map(lambda v: stochtrace.monte_carlo_trace()(matvec, v), probes)
    frob2 = jax.lax.map(lambda v: stochtrace.monte_carlo_frobeniusnorm_squared()(matvec, v), probes)
    return trace, frob2


@float64
def hutchinson(params, decays: Decays, arch: Architecture, num_samples: int = 64, seed: int = 0) -> TraceEstimate:
    """Hutchinson estimates (Rademacher probes v): tr H = E[v^T H v], ||H||_F^2 = E[||H v||^2].

    Standard errors are of the mean over probes; the Frobenius error by the delta method.
    """
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    t, f2 = _hutchinson(_as_jax(params), decays, jax.random.PRNGKey(seed), arch, int(num_samples))
    t, f2 = np.asarray(t), np.asarray(f2)
    s = np.sqrt(num_samples)
    fro = float(np.sqrt(np.mean(f2)))
    return TraceEstimate(float(np.mean(t)), float(np.std(t, ddof=1) / s), fro,
                         float(np.std(f2, ddof=1) / s / (2 * fro)) if fro > 0 else 0.0, int(num_samples))
