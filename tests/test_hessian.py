"""Hessian access in float64: every matrix-free result against the dense Hessian, the dense one against
reverse-over-reverse autodiff and finite differences of the gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dufm import Problem, hessian, objective, theory
from dufm.model.init import initialise


def _point(problem, seed=0, scale=0.3):
    params = initialise(jax.random.PRNGKey(seed), problem.architecture, scale, "gaussian")
    if params.b is not None:
        params = params._replace(b=0.1 * jnp.arange(problem.classes, dtype=jnp.float64))
    return jax.tree_util.tree_map(np.asarray, params)


def _flat_f(params, problem):
    """The objective as a function of the flat parameter vector, and that vector. The tests differentiate it under
    jax.jit: one compiled program per derivative, not one per operation of an op-by-op evaluation."""
    x, unravel = ravel_pytree(jax.tree_util.tree_map(jnp.asarray, params))
    return (lambda y: objective(unravel(y), problem.decays, problem.architecture)), x


CASES = [
    dict(loss="ce", activation="linear", depth=1),
    dict(loss="ce", activation="linear", depth=3),
    dict(loss="ce", activation="relu", depth=3),
    dict(loss="mse", activation="linear", depth=2, bias="free"),
    dict(loss="mse", activation="relu", depth=2, bias="regularised", bias_decay=0.05),
]


# slow: two of the five cases (each compiles three programs of its own); by default L = 3 linear and ReLU CE, and MSE with a bias
@pytest.mark.parametrize("case", [pytest.param(c, marks=[pytest.mark.slow] if i in (0, 3) else []) for i, c in enumerate(CASES)],
                         ids=lambda c: "-".join(str(v) for v in c.values()))
def test_dense_hessian_matches_reverse_over_reverse_and_finite_differences(case):
    p = Problem(classes=3, per_class=2, width=(4, 5, 3)[: case["depth"]], weight_decay=0.02, **case)
    params = _point(p)
    H = hessian.hessian_matrix(params, p.decays, p.architecture, block=7)  # a block that does not divide P
    f, x = _flat_f(params, p)
    Hrr = np.asarray(jax.jit(jax.jacrev(jax.jacrev(f)))(x))
    scale = np.abs(Hrr).max()
    assert np.abs(H - Hrr).max() <= 1e-12 * scale
    assert np.array_equal(H, H.T)
    # central differences of the gradient along a few coordinates: O(h^2) truncation, h = 1e-5
    g = jax.jit(jax.grad(f))
    h = 1e-5
    x = np.asarray(x)
    for i in (0, x.size // 2, x.size - 1):
        e = np.zeros_like(x)
        e[i] = h
        fd = (np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2 * h)
        assert np.abs(fd - H[i]).max() <= 1e-7 * scale


def test_hvp_matches_dense_product():
    p = Problem(classes=4, per_class=3, width=6, depth=2, weight_decay=0.01)
    params = _point(p, seed=1)
    H = hessian.hessian_matrix(params, p.decays, p.architecture)
    v = np.random.default_rng(0).standard_normal(H.shape[0])
    matvec, P = hessian.operator(params, p.decays, p.architecture)
    assert P == p.parameter_count
    np.testing.assert_allclose(np.asarray(matvec(v)), H @ v, rtol=0, atol=1e-13 * np.abs(H @ v).max())
    hvp = jax.jit(hessian.hvp, static_argnums=3)  # one program, not one per operation
    tree = hvp(jax.tree_util.tree_map(jnp.asarray, params), hessian.unflatten_like(params, v), p.decays, p.architecture)
    np.testing.assert_allclose(hessian.flatten(tree), H @ v, rtol=0, atol=1e-13 * np.abs(H @ v).max())


def test_inertia_matches_eigenvalue_counts(rng):
    A = rng.standard_normal((60, 60))
    w0 = np.concatenate([-np.geomspace(1, 1e-3, 20), np.zeros(15), np.geomspace(1e-3, 2, 25)])
    Q, _ = np.linalg.qr(A)
    H = (Q * w0) @ Q.T
    w = np.linalg.eigvalsh(H)
    for tau in (1e-12, 1e-6, 5e-3, 0.5):
        expected = (int(np.sum(w < -tau)), int(np.sum(np.abs(w) <= tau)), int(np.sum(w > tau)))
        assert hessian.inertia(H, tau) == expected
    with pytest.raises(ValueError, match="tau must be > 0"):
        hessian.inertia(H, 0.0)


def _small_saddle_problem():
    # a random point of a linear CE deep UFM: indefinite Hessian, P = 3*24 + 24 + 3*3... (K=4, n=6, d=6)
    p = Problem(classes=4, per_class=6, width=6, depth=2, weight_decay=0.01)
    return p, _point(p, seed=3, scale=0.5)


@pytest.mark.parametrize("where", ["random", "dnc"])
def test_lanczos_extremes_match_dense_spectrum(where):
    p, params = _small_saddle_problem()
    if where == "dnc":
        params = theory.dnc(p).params
    H = hessian.hessian_matrix(params, p.decays, p.architecture)
    w = np.linalg.eigvalsh(H)
    norm = max(abs(w[0]), abs(w[-1]))
    k = 80
    assert k < H.shape[0] / 2  # a genuine Krylov subspace, not the whole space
    lz = hessian.lanczos_extremes(params, p.decays, p.architecture, num_matvecs=k, seed=0)
    assert abs(lz.min - w[0]) <= 1e-8 * norm
    assert abs(lz.max - w[-1]) <= 1e-8 * norm
    # Kahan: an eigenvalue lies within the residual of each Ritz value
    assert np.min(np.abs(w - lz.min)) <= lz.min_residual + 1e-14 * norm
    assert np.min(np.abs(w - lz.max)) <= lz.max_residual + 1e-14 * norm
    if where == "random":
        assert w[0] < -1e-3 * norm  # the test covers a negative extreme eigenvalue


def test_slq_weights_sum_to_one_and_reproduce_moments():
    p, params = _small_saddle_problem()
    H = hessian.hessian_matrix(params, p.decays, p.architecture)
    P = H.shape[0]
    k, S = 12, 6
    nodes, weights = hessian.slq_density(params, p.decays, p.architecture, num_matvecs=k, num_samples=S, seed=4)
    assert nodes.shape == weights.shape == (S, k)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    # the same Rademacher probes: Gauss quadrature is exact for moments p <= 2k - 1
    probes = np.asarray(jax.random.rademacher(jax.random.PRNGKey(4), (S, P), jnp.float64))
    norm = np.linalg.norm(H, 2)
    for s in range(S):
        v = probes[s] / np.linalg.norm(probes[s])
        Hv = v
        for power in range(1, 2 * k):
            Hv = H @ Hv
            exact = v @ Hv
            quad = np.sum(weights[s] * nodes[s] ** power)
            assert abs(quad - exact) <= 1e-9 * norm**power
    # averaged over probes: a stochastic estimate of the dense spectrum's moments (1/P) tr H^p
    w = np.linalg.eigvalsh(H)
    for power in (1, 2):
        per_probe = np.sum(weights * nodes**power, axis=1)
        stderr = per_probe.std(ddof=1) / np.sqrt(S)
        assert abs(per_probe.mean() - np.mean(w**power)) <= 5 * stderr


def test_smoothed_density_integrates_to_one():
    p, params = _small_saddle_problem()
    nodes, weights = hessian.slq_density(params, p.decays, p.architecture, num_matvecs=12, num_samples=6)  # the SLQ test's program
    width = 0.02 * np.abs(nodes).max()
    grid = np.linspace(nodes.min() - 12 * width, nodes.max() + 12 * width, 20001)
    dens = hessian.smoothed_density(nodes, weights, grid, width)
    assert abs(np.trapezoid(dens, grid) - 1.0) <= 1e-9


def test_hutchinson_equals_its_definition_with_the_same_probes():
    p, params = _small_saddle_problem()
    H = hessian.hessian_matrix(params, p.decays, p.architecture)
    n = 40
    est = hessian.hutchinson(params, p.decays, p.architecture, num_samples=n, seed=7)
    from matfree import stochtrace

    probes = np.asarray(stochtrace.sampler_signs(jnp.zeros(H.shape[0]), num=n)(jax.random.PRNGKey(7)))
    assert set(np.unique(probes)) == {-1.0, 1.0}
    quad = np.einsum("si,ij,sj->s", probes, H, probes)
    frob2 = np.sum((probes @ H) ** 2, axis=1)
    assert est.trace == pytest.approx(quad.mean(), rel=1e-12)
    assert est.frobenius_norm == pytest.approx(np.sqrt(frob2.mean()), rel=1e-12)
    # and they are unbiased estimates of the exact values
    assert abs(est.trace - np.trace(H)) <= 5 * est.trace_stderr
    assert abs(est.frobenius_norm - np.linalg.norm(H)) <= 5 * est.frobenius_norm_stderr


def test_bad_arguments_raise_one_line_errors():
    p, params = _small_saddle_problem()
    with pytest.raises(ValueError, match="num_matvecs must be >= 2"):
        hessian.lanczos_extremes(params, p.decays, p.architecture, num_matvecs=1)
    with pytest.raises(ValueError, match="num_samples must be >= 2"):
        hessian.hutchinson(params, p.decays, p.architecture, num_samples=1)


def test_lanczos_runs_exactly_the_products_asked_for():
    p, params = _small_saddle_problem()
    # 80: the program of test_lanczos_extremes_match_dense_spectrum
    few, many = (hessian.lanczos_extremes(params, p.decays, p.architecture, num_matvecs=k) for k in (4, 80))
    assert few.num_matvecs == len(few.ritz_values) == 4 and many.num_matvecs == len(many.ritz_values) == 80
    # 4 products cannot resolve the spectrum's edges yet; 80 nearly do: the count is really used
    assert few.min_residual > 1e3 * many.min_residual and few.min > many.min
