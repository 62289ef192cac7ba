"""Closed forms against the objective at explicitly constructed parameters (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dufm
from dufm import theory
from dufm.objective import forward, gradient_norm, objective

PROBLEMS = [
    dict(classes=10, per_class=5, width=70, depth=2, weight_decay=2**-10),  # Garrod & Keating Fig 1
    dict(classes=4, per_class=3, width=6, depth=1, weight_decay=1e-2),
    dict(classes=4, per_class=3, width=5, depth=3, feature_decay=2e-3, layer_decay=(1e-3, 4e-3, 3e-3)),
    dict(classes=6, per_class=2, width=(8, 7, 6, 9), depth=4, weight_decay=3e-4),
    dict(classes=7, per_class=3, width=9, depth=3, weight_decay=1e-3),  # odd K
    dict(classes=5, per_class=4, width=6, depth=2, weight_decay=1e-3, bias="free"),
    dict(classes=5, per_class=4, width=6, depth=2, weight_decay=1e-3, bias="regularised", bias_decay=0.1),
    dict(classes=4, per_class=3, width=6, depth=2, weight_decay=1e-2, activation="relu"),
    dict(classes=4, per_class=3, width=6, depth=4, weight_decay=2e-3, activation="relu"),
    dict(classes=10, per_class=5, width=70, depth=3, weight_decay=2**-9, activation="relu"),  # G&K Fig 6
    dict(classes=4, per_class=3, width=6, depth=1, weight_decay=1e-2, loss="mse"),
    dict(classes=4, per_class=3, width=6, depth=3, weight_decay=1e-2, loss="mse"),
    dict(classes=4, per_class=3, width=6, depth=3, weight_decay=1e-2, loss="mse", activation="relu"),
    dict(classes=10, per_class=2, width=30, depth=4, weight_decay=0.004, loss="mse", activation="relu"),  # Súkeník Fig 2
    dict(classes=5, per_class=3, width=(6, 5), depth=2, feature_decay=1e-2, layer_decay=(2e-3, 5e-3), loss="mse", bias="free"),
    dict(classes=5, per_class=3, width=6, depth=2, weight_decay=1e-2, loss="mse", bias="regularised", bias_decay=0.3),
]


def evaluate(problem, params):
    p = jax.tree_util.tree_map(jnp.asarray, params)
    f = float(objective(p, problem.decays, problem.architecture))
    g = float(gradient_norm(jax.grad(objective)(p, problem.decays, problem.architecture)))
    return f, g


def _problem_id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items() if k in ("classes", "depth", "loss", "activation", "bias"))


@pytest.mark.parametrize("kw", PROBLEMS, ids=_problem_id)
def test_every_candidate_matches_the_objective(kw):
    problem = dufm.Problem(**kw)
    cands = theory.candidates(problem)
    assert isinstance(cands["dnc"], theory.Candidate) or (problem.loss, problem.bias) == ("mse", "regularised")
    assert isinstance(cands["zero"], theory.Candidate)
    seen = 0
    for name, c in cands.items():
        if isinstance(c, str):
            continue
        seen += 1
        f, g = evaluate(problem, c.params)
        assert abs(f - c.loss) <= 1e-12 * abs(c.loss), (name, f, c.loss)
        if c.critical:
            assert g <= 1e-9, (name, g)
        else:
            assert g > 1e-6, (name, g)  # documented as not critical: the test shows it
        assert c.params.H.shape == (problem.widths[0], problem.samples)
    assert seen >= (1 if (problem.loss, problem.bias) == ("mse", "regularised") else 2)


def test_fig1_numbers():
    problem = dufm.Problem(classes=10, per_class=5, width=70, depth=2, weight_decay=2**-10)
    assert round(theory.dnc(problem).loss, 6) == 0.090662
    assert round(theory.low_rank(problem).loss, 6) == 0.080013
    assert theory.dnc(problem).rank == 9 and theory.low_rank(problem).rank == 5


def test_optimal_scales_are_global_minima_of_the_reduced_losses():
    """Brute force over a fine grid: no scale beats the closed form's."""
    K, n, L, lam = 10, 5, 2, 2**-10
    m = L + 1
    a = np.linspace(1e-6, 40, 400_001)
    dnc = np.log1p((K - 1) * np.exp(-a)) + (m * lam / 2) * (K - 1) * (a * np.sqrt(n)) ** (2 / m)
    b = a
    lr = np.log(1 + np.exp(-2 * b) + (K - 2) * np.exp(-b)) + (m * lam / 2) * (K / 2) * (2 * b * np.sqrt(n)) ** (2 / m)
    problem = dufm.Problem(classes=K, per_class=n, width=70, depth=L, weight_decay=lam)
    for closed, brute, grid in ((theory.dnc(problem), dnc, a), (theory.low_rank(problem), lr, b)):
        assert closed.loss <= brute.min() + 1e-15
        assert abs(closed.scale - grid[brute.argmin()]) <= 2e-4


def test_zhu_closed_form_margin():
    for lam_H, lam_W in [(1e-2, 3e-3), (5e-3, 5e-3), (1e-4, 2e-2)]:
        p = dufm.Problem(classes=4, per_class=3, width=6, depth=1, feature_decay=lam_H, layer_decay=lam_W)
        assert abs(theory.dnc(p).scale - theory.zhu_margin(p)) <= 1e-12 * theory.zhu_margin(p)


def test_trivial_solution_wins_exactly_when_K_sqrt_n_lambda_reaches_one():
    K, n = 4, 9
    edge = 1.0 / (K * np.sqrt(n))
    below = dufm.Problem(classes=K, per_class=n, width=6, depth=1, weight_decay=edge * (1 - 1e-6))
    above = dufm.Problem(classes=K, per_class=n, width=6, depth=1, weight_decay=edge * (1 + 1e-6))
    assert theory.dnc(below).scale > 0 and theory.dnc(below).loss < np.log(K)
    assert theory.dnc(above).scale == 0 and theory.dnc(above).loss == pytest.approx(np.log(K), rel=1e-15)


def test_classical_mse_closed_form():
    for bias in ("none", "free"):
        p = dufm.Problem(classes=5, per_class=3, width=6, depth=1, feature_decay=2e-2, layer_decay=5e-3, loss="mse", bias=bias)
        x = theory.mse_ufm_scale(p)
        assert abs(theory.dnc(p).scale - x) <= 1e-12
        K, Lam = 5, np.sqrt(3 * 2e-2 * 5e-3)
        c = 1.0 if bias == "none" else (K - 1) / K
        r = K if bias == "none" else K - 1
        assert theory.dnc(p).loss == pytest.approx(0.5 * c * (1 - x) ** 2 + r * Lam * x, rel=1e-14)


def test_representation_cost_is_attained_and_minimal(rng):
    problem = dufm.Problem(classes=4, per_class=2, width=5, depth=3, feature_decay=0.3, layer_decay=(0.1, 0.7, 0.2))
    Z = rng.normal(size=(4, 8))
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    params = theory.balanced_factors(U, s, Vt.T, problem)
    Zp, _ = forward(jax.tree_util.tree_map(jnp.asarray, params), problem.architecture)
    np.testing.assert_allclose(np.asarray(Zp), Z, rtol=0, atol=1e-13)
    a = theory.decay_vector(problem)
    F = [params.H, *params.W]
    cost = sum(0.5 * ai * np.sum(Fi**2) for ai, Fi in zip(a, F))
    assert cost == pytest.approx(theory.schatten_cost(Z, a), rel=1e-13)
    # the same product through any other invertible re-balancing costs more
    for _ in range(5):
        G = np.eye(5) + 0.3 * rng.normal(size=(5, 5))
        F2 = list(F)
        F2[0] = G @ F[0]
        F2[1] = F[1] @ np.linalg.inv(G)
        np.testing.assert_allclose(F2[3] @ F2[2] @ F2[1] @ F2[0], Z, atol=1e-10)
        assert sum(0.5 * ai * np.sum(Fi**2) for ai, Fi in zip(a, F2)) > cost


@pytest.mark.parametrize("K,L,dnc_wins", [(4, 2, True), (4, 3, False), (6, 2, False), (5, 2, True), (10, 2, False)])
def test_garrod_keating_theorem_1_boundary(K, L, dnc_wins):
    """Thm 1: DNC is not globally optimal for K >= 4, L >= 3 or K >= 6, L = 2."""
    p = dufm.Problem(classes=K, per_class=5, width=2 * K, depth=L, weight_decay=2**-10)
    d, lr = theory.dnc(p).loss, theory.low_rank(p).loss
    if K % 2:
        lr = min(lr, theory.low_rank(p, two_scale=True).loss)
    assert (d < lr) == dnc_wins, (d, lr)


def test_relu_ce_dnc_bounds():
    p = dufm.Problem(classes=10, per_class=5, width=70, depth=3, weight_decay=2**-9, activation="relu")
    c = theory.dnc(p)
    lin = theory.dnc(dufm.Problem(classes=10, per_class=5, width=70, depth=3, weight_decay=2**-9))
    assert not c.exact and c.lower_bound == pytest.approx(lin.loss, rel=1e-15)
    assert c.lower_bound < c.loss
    # the feasible point's hidden features are non-negative, so ReLU leaves them unchanged
    _, H = forward(jax.tree_util.tree_map(jnp.asarray, c.params), p.architecture)
    assert all(float(jnp.min(h)) >= 0 for h in H[1:])


def test_mse_relu_dnc_equals_linear_dnc():
    kw = dict(classes=10, per_class=2, width=30, depth=4, weight_decay=0.004, loss="mse")
    relu = theory.dnc(dufm.Problem(activation="relu", **kw))
    lin = theory.dnc(dufm.Problem(**kw))
    assert relu.exact and relu.loss == pytest.approx(lin.loss, rel=1e-15)


def test_deep_products_of_decays_do_not_underflow():
    p = dufm.Problem(classes=4, per_class=5, width=4, depth=110, weight_decay=2**-10)
    assert theory.effective_decay(p) == pytest.approx(2**-10, rel=1e-13)
    d = theory.dnc(p)
    assert d.scale > 0 and d.loss < np.log(4)


def test_classical_closed_forms_check_their_problem():
    with pytest.raises(ValueError, match="loss"):
        theory.mse_ufm_scale(dufm.Problem(classes=4, per_class=3, width=6, depth=1, weight_decay=1e-2))
    with pytest.raises(ValueError, match="bias"):
        theory.mse_ufm_scale(
            dufm.Problem(classes=4, per_class=3, width=6, depth=1, weight_decay=1e-2, loss="mse", bias="regularised", bias_decay=1.0)
        )
    with pytest.raises(ValueError, match="loss"):
        theory.zhu_margin(dufm.Problem(classes=4, per_class=3, width=6, depth=1, weight_decay=1e-2, loss="mse"))


def test_closed_forms_need_positive_decays_and_balanced_classes():
    with pytest.raises(ValueError, match="weight decay"):
        theory.dnc(dufm.Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.0))
    with pytest.raises(ValueError, match="per_class"):
        theory.dnc(dufm.Problem(classes=3, per_class=(2, 3, 2), width=4, depth=2, weight_decay=0.01))
    with pytest.raises(ValueError, match="width"):
        theory.dnc(dufm.Problem(classes=6, per_class=2, width=3, depth=2, weight_decay=0.01))


@pytest.mark.parametrize("r,L", [(3, 2), (4, 3), (5, 4), (6, 5)])
def test_srg_construction(r, L):
    K = r * (r - 1) // 2
    p = dufm.Problem(classes=K, per_class=3, width=K + 1, depth=L, weight_decay=0.004, loss="mse", activation="relu")
    c = theory.srg(p)
    f, g = evaluate(p, c.params)
    assert abs(f - c.loss) <= 1e-12 * c.loss
    assert g > 1e-6 and not c.critical  # one shared scale along the chain: documented as not critical
    _, H = forward(jax.tree_util.tree_map(jnp.asarray, c.params), p.architecture)
    HL = np.asarray(H[-1])
    s_pre = np.linalg.svd(HL, compute_uv=False)
    s_post = np.linalg.svd(np.maximum(HL, 0), compute_uv=False)
    rank = lambda s: int(np.sum(s > 1e-10 * s[0]))  # noqa: E731
    assert rank(s_pre) == (r - 1 if r == 4 else r) and rank(s_post) == K
    # hidden layers before the last are non-negative: ReLU leaves them unchanged
    assert all(float(jnp.min(h)) >= 0 for h in H[1:-1])


def test_srg_beats_dnc_in_sukenik_fig2_setting():
    p = dufm.Problem(classes=10, per_class=5, width=30, depth=4, weight_decay=0.004, loss="mse", activation="relu")
    assert theory.srg(p).loss < theory.dnc(p).loss
    with pytest.raises(ValueError, match="classes"):
        theory.srg(dufm.Problem(classes=7, per_class=5, width=30, depth=4, weight_decay=0.004, loss="mse", activation="relu"))


# ---------------------------------------------------------------------------
# candidates at any scale


@pytest.mark.parametrize(
    "kw,name",
    [
        (dict(classes=4, per_class=3, width=6, depth=2, weight_decay=0.01), "dnc"),
        (dict(classes=4, per_class=3, width=6, depth=3, weight_decay=0.005), "low_rank"),
        (dict(classes=3, per_class=2, width=5, depth=2, loss="mse", weight_decay=0.01), "dnc"),
        (dict(classes=3, per_class=2, width=5, depth=2, loss="mse", bias="free", weight_decay=0.01), "dnc"),
    ],
)
def test_every_critical_scale_is_a_critical_point_with_the_reduced_loss(kw, name):
    import jax
    import jax.numpy as jnp

    from dufm.objective import gradient_norm

    p = dufm.Problem(**kw)
    reduced = theory.reduced_loss(p, name)
    scales = reduced.critical_scales()
    assert scales and scales[-1].kind == "minimum"
    best = {"dnc": theory.dnc, "low_rank": theory.low_rank}[name](p)
    assert scales[-1].scale == pytest.approx(best.scale, rel=1e-12)
    assert reduced.minimise() == scales[-1]  # the optimum is the large-scale minimum here
    f = lambda q: objective(q, p.decays, p.architecture)  # noqa: E731
    for c in scales:
        params = jax.tree_util.tree_map(jnp.asarray, theory.at_scale(p, name, c.scale))
        assert float(f(params)) == pytest.approx(c.loss, rel=1e-12)
        assert float(gradient_norm(jax.grad(f)(params))) <= 1e-10
    # off a critical scale: the same reduced loss, but not a critical point
    s = 1.3 * scales[-1].scale
    params = jax.tree_util.tree_map(jnp.asarray, theory.at_scale(p, name, s))
    assert float(f(params)) == pytest.approx(reduced.g(s) + reduced.coef * s**reduced.power, rel=1e-12)
    assert float(f(params)) == pytest.approx(reduced(s), rel=1e-15)
    assert float(gradient_norm(jax.grad(f)(params))) > 1e-6


def test_at_scale_rejects_bad_input():
    p = dufm.Problem(classes=5, per_class=2, width=6, depth=2, weight_decay=0.01)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        theory.at_scale(p, "dnc", float("nan"))
    with pytest.raises(ValueError, match="point must be 'dnc'"):
        theory.at_scale(p, "low_rank", 1.0)  # odd K: no critical one-scale low-rank point
    assert theory.at_scale(p, "zero", 0.0).H.shape == (6, 10)
