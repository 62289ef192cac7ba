"""Newton-MR refinement and second-order classification of critical points (float64)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import FIG1 as FIG1_PROBLEM
from helpers import SMALL

from dufm import Problem, SolverConfig, hessian, solve, theory
from dufm.analysis.solution import analyse
from dufm.landscape.critical import classify, refine, symmetry_dimension, symmetry_tangents
from dufm.model.init import initialise
from dufm.model.objective import gradient_norm, objective
from dufm.model.problem import Params
from dufm.solving.solver import run_many

FIG1 = Problem(**FIG1_PROBLEM)


@functools.partial(jax.jit, static_argnums=2)
def _gradient_norm(params, decays, arch):
    return gradient_norm(jax.grad(objective)(params, decays, arch))


def _grad_norm(params, p):
    """||grad|| at ``params``, one compiled program per problem shape (op by op, every operation would compile on its own)."""
    return float(_gradient_norm(jax.tree_util.tree_map(jnp.asarray, params), p.decays, p.architecture))


def _perturb(params, rel, seed):
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda a: a + rel * np.sqrt(np.mean(a**2) + 1e-300) * rng.standard_normal(a.shape), params)


@pytest.mark.slow  # GD on Fig 1 to |grad| <= 1e-10: 49 000 steps (conftest.fig1_seed0), and Newton-MR on its 4 270 parameters
def test_refine_fig1_gd_end_point_to_1e_10_keeps_the_solution(fig1_seed0):
    _, run, full = fig1_seed0  # seed 0 to |grad| <= 1e-4 and, from the same start, to 1e-10 (GD lr 0.5, init std 0.1)
    assert run.status == "converged" and 1e-5 < run.grad_norm <= 1e-4  # a GD end point (20 342 steps), not yet critical
    before = analyse(run.params, FIG1)
    ref = refine(run.params, FIG1.decays, FIG1.architecture, tol=1e-10)
    assert ref.status == "converged" and ref.grad_norm <= 1e-10
    assert _grad_norm(ref.params, FIG1) == pytest.approx(ref.grad_norm, rel=1e-6)
    assert ref.iterations <= 6  # Newton: quadratic convergence, not a slow crawl
    after = analyse(ref.params, FIG1)
    assert after.solution_type == before.solution_type == "low-rank"
    assert after.rank["Z"] == before.rank["Z"] == 5
    # seed 0 of Fig 1 is the Garrod-Keating low-rank solution: the refined loss is its closed form
    assert ref.loss == pytest.approx(theory.low_rank(FIG1).loss, rel=1e-13)
    # ... and it is the point GD itself reaches when run on to |grad| <= 1e-10 (~29 000 more steps).
    # At |grad| ~ 1e-4 GD's hidden layers still carry decaying singular values (hidden ranks 7 > 5);
    # compare orbit-invariant quantities: every layer's singular values.
    assert full.status == "converged" and full.steps > run.steps
    gd = analyse(full.params, FIG1)
    assert after.rank == gd.rank
    # GD's |grad| <= 1e-10 leaves it up to |grad| / (smallest curvature ~ lambda = 2^-10) ~ 1e-7 from the
    # critical point (its spurious singular values, ~6e-8, are still decaying); the refined ones are ~1e-16.
    for k, s in gd.singular_values.items():
        np.testing.assert_allclose(after.singular_values[k], s, rtol=0, atol=1e-10 / 2.0**-10)
        assert np.all(np.asarray(after.singular_values[k])[5:] <= 1e-12 * max(s))


@pytest.mark.slow  # 500 000 steps of GD on Fig 1
def test_refine_modes_at_a_saddle_plateau_nearest_saddle_descent_gd_limit():
    """Fig 1, seed 4: GD meets |grad| <= 1e-4 on the plateau of a rank-7 strict saddle, which it leaves later.

    ``nearest`` (Newton-MR) returns that saddle; ``descent`` (L-BFGS, then Newton-MR) returns the
    point GD itself reaches when run on (~210 000 more steps), the independent reference.
    """
    arch, dec = FIG1.architecture, FIG1.decays
    run = solve(FIG1, SolverConfig(steps=100_000, tol=1e-4), seeds=[4])[0]
    assert run.status == "converged" and analyse(run.params, FIG1).rank["Z"] == 7
    near = refine(run.params, dec, arch, tol=1e-10)
    assert near.status == "converged" and near.iterations <= 6 and analyse(near.params, FIG1).rank["Z"] == 7
    c = classify(near.params, dec, arch, method="lanczos", num_matvecs=100, num_samples=2)
    h = c.hessian
    assert c.verdict == "strict saddle" and h.min_eigenvalue + h.min_eigenvalue_residual < 0  # certified negative
    desc = refine(run.params, dec, arch, tol=1e-13, mode="descent")
    assert desc.status == "converged" and desc.mode == "descent" and desc.descent_steps >= 1
    assert desc.grad_norm <= 1e-13 and _grad_norm(desc.params, FIG1) == pytest.approx(desc.grad_norm, rel=1e-6)
    lim = run_many(Params.stack([run.params]), dec, arch, SolverConfig(steps=400_000, tol=1e-10, log_every=1000))[0]
    assert lim.status == "converged"
    # GD stops up to |grad| / (smallest curvature modulo symmetry, ~1e-5 here) from its limit; Newton-MR
    # polishes that (it moves ~7e-6 in singular values, a different critical point is O(1) away)
    limit = refine(lim.params, dec, arch, tol=1e-13)
    assert limit.status == "converged"
    assert desc.loss == pytest.approx(limit.loss, rel=1e-14) and desc.loss < near.loss - 1e-7
    a, b = analyse(desc.params, FIG1), analyse(limit.params, FIG1)
    assert a.rank == b.rank and a.rank["Z"] == 7
    for k, s in b.singular_values.items():
        # each point is ~|grad| / mu from the critical point, mu ~ 1.4e-5 the smallest curvature modulo symmetry
        # (polishing GD's limit from |grad| 1e-10 moves it 7e-6); singular values move <= ~10x that (the largest
        # is 31.5). Measured: 4.6e-11 (Z) against a bound of ~1.4e-9; the saddle is 0.98 away.
        atol = 10 * (desc.grad_norm + limit.grad_norm) / 1e-5
        np.testing.assert_allclose(a.singular_values[k], s, rtol=0, atol=atol)


def test_refine_converges_to_a_known_saddle_small_scale_dnc():
    p = Problem(depth=2, weight_decay=0.01, **SMALL)  # the problem dufm probe's tests classify (tests/test_cli.py)
    branches = theory.reduced_loss(p, "dnc").critical_scales()
    small = [c for c in branches if c.kind == "maximum"]
    assert len(small) == 1
    exact = theory.at_scale(p, "dnc", small[0].scale)
    assert _grad_norm(exact, p) <= 1e-12
    start = _perturb(exact, 1e-3, seed=0)
    assert _grad_norm(start, p) > 1e-7
    ref = refine(start, p.decays, p.architecture, tol=1e-10)
    assert ref.status == "converged" and ref.grad_norm <= 1e-10
    assert ref.loss == pytest.approx(small[0].loss, rel=1e-10)
    out = classify(ref.params, p.decays, p.architecture, method="dense")
    assert out.verdict == "strict saddle" and out.index >= 1


def test_refine_converges_to_the_origin_saddle_of_the_classical_ufm():
    p = Problem(classes=3, per_class=2, width=4, depth=1, weight_decay=0.01)
    start = _perturb(theory.zero(p).params, 0.0, 0)
    start = jax.tree_util.tree_map(lambda a: a + 1e-4 * np.random.default_rng(1).standard_normal(a.shape), start)
    ref = refine(start, p.decays, p.architecture, tol=1e-12)
    assert ref.status == "converged"
    assert np.abs(hessian.flatten(ref.params)).max() <= 1e-10  # back at the origin
    out = classify(ref.params, p.decays, p.architecture, method="dense")
    assert out.verdict == "strict saddle"  # Zhu et al.: the origin is a strict saddle for L = 1


def test_refine_reports_max_iter_and_rejects_bad_input():
    p = Problem(depth=2, weight_decay=0.01, **SMALL)  # the problem dufm probe --refine-mode descent refines (tests/test_cli.py)
    params = jax.tree_util.tree_map(np.asarray, initialise(jax.random.PRNGKey(0), p.architecture, 0.5, "gaussian"))
    ref = refine(params, p.decays, p.architecture, tol=1e-10, max_iter=1)
    assert ref.status == "max_iter" and ref.iterations == 1 and len(ref.history) == 2
    assert ref.history[1] < ref.history[0]
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        refine(params, p.decays, p.architecture, tol=0)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 0"):
        refine(params, p.decays, p.architecture, max_iter=-1)
    with pytest.raises(ValueError, match="mode must be one of nearest, descent"):
        refine(params, p.decays, p.architecture, mode="minimum")
    with pytest.raises(ValueError, match="descent_steps must be an integer >= 1"):
        refine(params, p.decays, p.architecture, mode="descent", descent_steps=0)
    # descent from a critical point: nothing to descend
    exact = theory.dnc(p).params
    ref = refine(exact, p.decays, p.architecture, tol=1e-10, mode="descent")
    assert ref.status == "converged" and ref.descent_steps == 0 and ref.iterations == 0 and len(ref.history) == 1
    assert ref.descent_status is None
    # tol above descent_tol: L-BFGS alone reaches tol, no Newton-MR step
    ref = refine(params, p.decays, p.architecture, tol=1e-6, mode="descent")
    assert ref.status == "converged" and ref.descent_status == "converged" and ref.descent_steps >= 1 and ref.iterations == 0
    assert len(ref.history) == 2 and ref.history[1] <= 1e-6 < ref.history[0]
    # a start already below descent_tol still descends two decades before Newton-MR
    near = _perturb(exact, 1e-9, seed=2)
    g0 = _grad_norm(near, p)
    assert 1e-12 < g0 < 1e-8
    ref = refine(near, p.decays, p.architecture, tol=1e-14, mode="descent")
    assert ref.descent_status == "converged" and ref.descent_steps >= 1 and ref.history[1] <= g0 / 100
    assert ref.status == "converged" and ref.loss == pytest.approx(theory.dnc(p).loss, rel=1e-14)
    # the L-BFGS step limit is reported, and Newton-MR goes on from where it stopped
    ref = refine(params, p.decays, p.architecture, tol=1e-10, mode="descent", descent_steps=2)
    assert ref.descent_status == "max_steps" and ref.descent_steps == 2 and ref.history[1] > 1e-8
    # a start 1e30 x a random one (loss 2e89): L-BFGS overflows within a few steps; reported, the start returned
    huge = jax.tree_util.tree_map(lambda a: a * 1e30, params)
    ref = refine(huge, p.decays, p.architecture, mode="descent")
    assert ref.status == "diverged" and ref.iterations == 0 and 1 <= ref.descent_steps <= 10
    np.testing.assert_array_equal(hessian.flatten(ref.params), hessian.flatten(huge))
    with pytest.raises(ValueError, match="params must give a finite gradient"):
        refine(jax.tree_util.tree_map(lambda a: a * 1e150, params), p.decays, p.architecture)


def _stiefel(r, d):
    return r * d - r * (r + 1) // 2


def test_dnc_nullity_is_the_rotation_orbit_and_methods_agree():
    K, n, d, L = SMALL["classes"], SMALL["per_class"], SMALL["width"], 2
    p = Problem(classes=K, per_class=n, width=d, depth=L, weight_decay=0.01)
    c = theory.dnc(p)
    dense = classify(c.params, p.decays, p.architecture, method="dense", eigenvalues=True)
    inert = classify(c.params, p.decays, p.architecture, method="inertia", num_matvecs=120)
    lanc = classify(c.params, p.decays, p.architecture, method="lanczos", num_matvecs=120, num_samples=400)
    assert dense.verdict == inert.verdict == lanc.verdict == "degenerate"
    assert dense.grad_norm <= 1e-12
    sym = symmetry_dimension(c.params, p.architecture)
    assert sym == L * _stiefel(K - 1, d)  # two hidden layer spaces, rank K-1 factors
    assert dense.nullity == inert.nullity == sym  # every null direction at DNC is a symmetry here
    for key in ("negative", "zero", "positive"):
        assert getattr(dense.hessian, key) == getattr(inert.hessian, key)
    hd, hi, hl = dense.hessian, inert.hessian, lanc.hessian
    norm = hd.spectral_norm
    for key in ("min_eigenvalue", "max_eigenvalue"):
        assert abs(getattr(hd, key) - getattr(hi, key)) <= 1e-8 * norm and abs(getattr(hd, key) - getattr(hl, key)) <= 1e-8 * norm
    assert hi.trace == pytest.approx(hd.trace, rel=1e-12)
    assert hi.frobenius_norm == pytest.approx(hd.frobenius_norm, rel=1e-12)
    assert abs(hl.trace - hd.trace) <= 5 * hl.trace_stderr
    assert hl.negative is None and lanc.nullity is None
    assert hl.ritz.num_matvecs == hi.ritz.num_matvecs == 120 and hl.estimate.num_samples == 400  # as asked
    assert inert.eigenvalues is None and lanc.eigenvalues is None
    w = dense.eigenvalues
    assert len(w) == p.parameter_count
    # the JSON record: counts, the redundant index/nullity, and no spectrum
    d = dense.to_dict()
    assert d["index"] == hd.negative and d["nullity"] == hd.zero and "eigenvalues" not in d["hessian"]
    assert "trace_stderr" not in d["hessian"] and "trace_stderr" in lanc.to_dict()["hessian"]


def test_symmetry_tangents_are_null_directions():
    p = Problem(classes=4, per_class=2, width=(5, 6), depth=2, weight_decay=0.02)
    params = jax.tree_util.tree_map(np.asarray, initialise(jax.random.PRNGKey(2), p.architecture, 0.4, "gaussian"))
    T = symmetry_tangents(params, p.architecture)
    assert T.shape == (5 * 4 // 2 + 6 * 5 // 2, p.parameter_count)
    # the objective is invariant along the orbit, so the gradient is orthogonal to every tangent at ANY point
    g = hessian.flatten(jax.grad(lambda q: objective(q, p.decays, p.architecture))(jax.tree_util.tree_map(jnp.asarray, params)))
    assert np.abs(T @ g).max() <= 1e-13 * np.linalg.norm(g) * np.abs(T).max()
    # at a critical point they are null vectors of the Hessian
    c = theory.dnc(Problem(classes=4, per_class=2, width=(5, 6), depth=2, weight_decay=0.02))
    H = hessian.hessian_matrix(c.params, p.decays, p.architecture)
    Tc = symmetry_tangents(c.params, p.architecture)
    assert np.abs(Tc @ H).max() <= 1e-12 * np.abs(H).max() * np.abs(Tc).max()
    relu = Problem(classes=4, per_class=2, width=5, depth=2, activation="relu", weight_decay=0.02)
    # ReLU: only the first hidden space (no activation between H_1 and W_1) keeps the rotation symmetry;
    # the feasible DNC point has rank-K (K = 4) factors there, width 5: 4*5 - 4*5/2 = 10
    assert symmetry_dimension(theory.dnc(relu).params, relu.architecture) == _stiefel(4, 5)


def test_verdicts_of_the_origin_and_of_a_non_critical_point():
    for depth, verdict in ((1, "strict saddle"), (2, "local minimum")):
        p = Problem(classes=3, per_class=2, width=4, depth=depth, weight_decay=0.01)
        out = classify(theory.zero(p).params, p.decays, p.architecture, method="dense")
        assert out.verdict == verdict
    # L >= 2: the data term is cubic or higher at the origin, so H = diag(lambda): positive definite
    p = Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01)
    out = classify(theory.zero(p).params, p.decays, p.architecture, method="dense")
    assert out.hessian.min_eigenvalue == pytest.approx(0.01, rel=1e-12)
    assert out.hessian.max_eigenvalue == pytest.approx(0.01, rel=1e-12)
    params = jax.tree_util.tree_map(np.asarray, initialise(jax.random.PRNGKey(0), p.architecture, 0.5, "gaussian"))
    assert classify(params, p.decays, p.architecture, method="dense").verdict == "not critical"


def test_classify_rejects_bad_input():
    p = Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01)
    z = theory.zero(p).params
    with pytest.raises(ValueError, match="method must be one of auto, dense, inertia, lanczos"):
        classify(z, p.decays, p.architecture, method="exact")
    with pytest.raises(ValueError, match=r"zero_tol must be a number in \(0, 1\)"):
        classify(z, p.decays, p.architecture, zero_tol=0)
    with pytest.raises(ValueError, match="grad_tol must be a finite number > 0"):
        classify(z, p.decays, p.architecture, grad_tol=float("nan"))
    with pytest.raises(ValueError, match="num_matvecs must be an integer >= 2"):
        classify(z, p.decays, p.architecture, num_matvecs=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        classify(z, p.decays, p.architecture, colour=1)
    f32 = Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01, dtype="float32")
    for probe in (classify, refine):
        with pytest.raises(ValueError, match="dtype must be float64"):
            probe(z, f32.decays, f32.architecture)
