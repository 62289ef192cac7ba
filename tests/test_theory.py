"""Closed forms against the objective at explicitly constructed parameters (float64)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dufm
from dufm import theory
from dufm.model.objective import forward, gradient_norm, objective

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


@functools.partial(jax.jit, static_argnums=2)
def _value_and_gradient_norm(params, decays, arch):
    value, grad = jax.value_and_grad(objective)(params, decays, arch)
    return value, gradient_norm(grad)


def evaluate(problem, params):
    """The objective and its gradient's norm at ``params``: one compiled program per problem shape (evaluated op by op,
    every operation of every shape would compile on its own)."""
    p = jax.tree_util.tree_map(jnp.asarray, params)
    f, g = _value_and_gradient_norm(p, problem.decays, problem.architecture)
    return float(f), float(g)


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


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=1e-5, depth=4), dict(loss="mse", depth=3),
                                dict(activation="relu", loss="mse", depth=3)])
def test_critical_scales_equal_brentq_on_the_same_brackets(kw):
    """The bisection in ReducedLoss.critical_scales against scipy's brentq, on the brackets of the same log grid."""
    from scipy.optimize import brentq

    problem = dufm.Problem(**{"classes": 10, "per_class": 5, "width": 70, "weight_decay": 2**-10, **kw})
    names = list(theory.candidates(problem))
    checked = 0
    for name in names:
        try:
            h = theory.reduced_loss(problem, name)
        except ValueError:  # no scalar reduction for this candidate
            continue
        s = np.geomspace(h.upper * 1e-14, h.upper, 4000)
        d = h.derivative(s)
        brackets = np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)[0]
        got = h.critical_scales()
        assert len(got) == len(brackets)
        for c, i in zip(got, brackets):
            want = brentq(h.derivative, s[i], s[i + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
            assert abs(c.scale - want) <= 8 * np.finfo(float).eps * want, (name, c.scale, want)
            assert abs(c.loss - h(want)) <= 1e-15 * abs(h(want))
            checked += 1
    assert checked >= 2


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
        theory.low_rank(dufm.Problem(classes=4, per_class=(2, 3, 2, 2), width=4, depth=2, weight_decay=0.01))
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
    p = dufm.Problem(**kw)
    reduced = theory.reduced_loss(p, name)
    scales = reduced.critical_scales()
    assert scales and scales[-1].kind == "minimum"
    best = {"dnc": theory.dnc, "low_rank": theory.low_rank}[name](p)
    assert scales[-1].scale == pytest.approx(best.scale, rel=1e-12)
    assert reduced.minimise() == scales[-1]  # the optimum is the large-scale minimum here
    for c in scales:
        f, g = evaluate(p, theory.at_scale(p, name, c.scale))  # the objective and its gradient's norm
        assert f == pytest.approx(c.loss, rel=1e-12)
        assert g <= 1e-10
    # off a critical scale: the same reduced loss, but not a critical point
    s = 1.3 * scales[-1].scale
    f, g = evaluate(p, theory.at_scale(p, name, s))
    assert f == pytest.approx(reduced.g(s) + reduced.coef * s**reduced.power, rel=1e-12)
    assert f == pytest.approx(reduced(s), rel=1e-15)
    assert g > 1e-6


def test_at_scale_rejects_bad_input():
    p = dufm.Problem(classes=5, per_class=2, width=6, depth=2, weight_decay=0.01)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        theory.at_scale(p, "dnc", float("nan"))
    with pytest.raises(ValueError, match="point must be 'dnc'"):
        theory.at_scale(p, "low_rank", 1.0)  # odd K: no critical one-scale low-rank point
    assert theory.at_scale(p, "zero", 0.0).H.shape == (6, 10)


# ---------------------------------------------------------------------------
# the circle, imbalanced counts, the reduced class-mean problem


def test_circle_is_a_critical_point_at_its_optimal_scale():
    """Garrod & Keating Thm 3's rank-2 point: explicit parameters give its loss, and the gradient vanishes."""
    for kw in (dict(classes=7, per_class=3, width=(8, 9, 7), depth=3, feature_decay=2e-3, layer_decay=(1e-3, 4e-3, 3e-3), bias="free"),):
        p = dufm.Problem(**kw)
        c = theory.circle(p)
        f, g = evaluate(p, c.params)
        assert abs(f - c.loss) <= 1e-12 * c.loss and g <= 1e-9 and c.rank == 2, (f, c.loss, g)
        s = np.linalg.svd(np.asarray(forward(jax.tree_util.tree_map(jnp.asarray, c.params), p.architecture)[0]), compute_uv=False)
        assert s[0] == pytest.approx(s[1], rel=1e-12) and s[2] <= 1e-12 * s[0]
    # the loss formula, by hand: log sum_j exp(beta (cos(2 pi j/K) - 1)) + m lambda (beta K sqrt(n)/2)^(2/m)
    p = dufm.Problem(classes=10, per_class=5, width=12, depth=12, weight_decay=0.02 / 144)
    c = theory.circle(p)
    by_hand = np.log(np.sum(np.exp(c.scale * (np.cos(2 * np.pi * np.arange(10) / 10) - 1)))) \
        + 13 * (0.02 / 144) * (c.scale * 10 * np.sqrt(5) / 2) ** (2 / 13)
    assert c.loss == pytest.approx(by_hand, rel=1e-14)
    assert round(c.loss, 6) == 0.004902  # docs/reproduction.md's scratch-script number at L = 12


def test_circle_is_the_simplex_for_three_classes_and_the_pairs_for_four():
    three = dufm.Problem(classes=3, per_class=4, width=5, depth=3, weight_decay=1e-3)
    four = dufm.Problem(classes=4, per_class=4, width=5, depth=3, weight_decay=1e-3)
    assert theory.circle(three).loss == pytest.approx(theory.dnc(three).loss, rel=1e-13)
    assert theory.circle(four).loss == pytest.approx(theory.low_rank(four).loss, rel=1e-13)
    for bad, match in ((dict(classes=2), "classes must be >= 3"), (dict(loss="mse"), r"loss must be a loss of softmax\(z\)"),
                       (dict(per_class=(1, 2, 3)), "per_class"), (dict(width=1), "width must be >= 2")):
        with pytest.raises(ValueError, match=match):
            theory.circle(dufm.Problem(**{**dict(classes=3, per_class=2, width=4, depth=2, weight_decay=1e-3), **bad}))


@pytest.mark.parametrize("K,name", [(6, "circle"), (12, "softmax_code"), (10, "rectified_simplex")])
def test_codes_at_every_critical_scale(K, name):
    p = dufm.Problem(classes=K, per_class=2, width=K, depth=4, weight_decay=1e-3)
    h = theory.reduced_loss(p, name)
    scales = h.critical_scales()
    assert [c.kind for c in scales] == ["maximum", "minimum"]
    for c in scales:
        f, g = evaluate(p, theory.at_scale(p, name, c.scale))
        assert f == pytest.approx(c.loss, rel=1e-12) and g <= 1e-10


def test_icosahedral_softmax_code():
    """K = 12: the icosahedron (rank 3, equal singular values), critical at its optimal scale; K != 12 is refused."""
    p = dufm.Problem(classes=12, per_class=5, width=(12, 13, 12), depth=3, weight_decay=2**-10, bias="free")
    c = theory.softmax_code(p)
    f, g = evaluate(p, c.params)
    assert abs(f - c.loss) <= 1e-12 * c.loss and g <= 1e-9 and c.rank == 3
    s = np.linalg.svd(np.asarray(forward(jax.tree_util.tree_map(jnp.asarray, c.params), p.architecture)[0]), compute_uv=False)
    np.testing.assert_allclose(s[:3], 4 * c.scale * np.sqrt(5), rtol=1e-12)
    assert s[3] <= 1e-12 * s[0]
    assert round(c.loss, 10) == 0.0669065228  # = dufm optimum at K = 12, L = 3 (docs/figures/optima_kl.json)
    with pytest.raises(ValueError, match="classes must be 12"):
        theory.softmax_code(dufm.Problem(classes=10, per_class=5, width=12, depth=3))


def test_zero_uses_the_counts():
    """The issue-11 bug: MSE, free bias, counts 1, 2, 5: b = n / N and loss 0.265625, a critical point."""
    p = dufm.Problem(classes=3, per_class=(1, 2, 5), width=4, depth=2, weight_decay=0.01, loss="mse", bias="free")
    z = theory.zero(p)
    np.testing.assert_allclose(z.params.b, [1 / 8, 2 / 8, 5 / 8], rtol=0, atol=1e-16)
    assert z.loss == 0.265625 and evaluate(p, z.params) == (0.265625, 0.0)


IMBALANCED = [
    dict(loss="ce"), dict(loss="ce", bias="regularised", bias_decay=0.5),  # CE with a free bias: tests/test_optimum.py
    dict(loss="mse"), dict(loss="mse", bias="free"), dict(loss="mse", bias="regularised", bias_decay=0.5),
    dict(loss="mse", activation="relu"), dict(loss="ce", activation="relu"),
]


@pytest.mark.parametrize("kw", IMBALANCED, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_every_candidate_with_imbalanced_counts(kw):
    """Available candidates match the objective at their parameters; the others say they need balanced classes."""
    p = dufm.Problem(classes=4, per_class=(1, 2, 5, 3), width=5, depth=3, feature_decay=0.02, layer_decay=(0.01, 0.03, 0.02), **kw)
    cands = theory.candidates(p)
    available = {k for k, c in cands.items() if not isinstance(c, str)}
    linear = p.activation == "linear"
    want = {"zero"} | ({"dnc"} if (p.loss == "ce" and linear) or (p.loss == "mse" and p.bias != "regularised") else set())
    assert available == want, (available, cands)
    for name, c in cands.items():
        if isinstance(c, str):
            assert "per_class" in c or "bias must be" in c or "activation must be" in c, (name, c)
            continue
        f, g = evaluate(p, c.params)
        assert abs(f - c.loss) <= 1e-12 * c.loss and g <= 1e-9 and c.critical, (name, f, c.loss, g)


def test_imbalanced_mse_minority_class_collapses():
    """Per-class scalar problems: with counts 1 and 40 and lambda = 0.05 the minority class's singular value is 0.

    (The closed form against L-BFGS on the full problem: tests/test_optimum.py.)
    """
    p = dufm.Problem(classes=2, per_class=(1, 40), width=3, depth=3, weight_decay=0.05, loss="mse")
    c = theory.dnc(p)
    assert c.rank == 1 and c.scale["x0"] == 0.0 and c.scale["x1"] > 0
    f, g = evaluate(p, c.params)
    assert abs(f - c.loss) <= 1e-12 * c.loss and g <= 1e-9


def test_imbalanced_ce_dnc_is_the_local_minimum_below_the_simplex():
    p = dufm.Problem(classes=4, per_class=(1, 2, 5, 3), width=5, depth=3, weight_decay=0.01)
    c = theory.dnc(p)
    assert c.rank == 3 and c.loss < c.extra["simplex_loss"]
    balanced = dufm.Problem(classes=4, per_class=3, width=5, depth=3, weight_decay=0.01)
    M, _ = theory.class_means(theory.dnc(balanced).params, balanced)
    cm = theory.class_mean_problem(balanced)
    # the simplex at its best scale is critical when the counts agree: the polish does not move it
    x, g = theory.polish(theory.smooth_point(M, None, cm, 3), cm, 3)
    assert g <= 1e-12 and theory.class_mean_objective(*theory.smooth_class_means(x, cm, 3), cm) == pytest.approx(
        theory.dnc(balanced).loss, rel=1e-13)


@pytest.mark.parametrize("kw", [dict(loss="ce", bias="free"), dict(loss="mse", bias="regularised", bias_decay=0.3)])
def test_the_reduced_problem_at_explicit_parameters(kw, rng):
    """F(M, b) equals the objective at the lifted parameters, and the smooth factorisation at the balanced point equals F."""
    p = dufm.Problem(classes=4, per_class=(1, 2, 5, 3), width=(6, 5, 7), depth=3, feature_decay=0.02,
                     layer_decay=(0.01, 0.03, 0.02), **kw)
    cm = theory.class_mean_problem(p)
    M, b = rng.normal(size=(4, 4)) * 3, rng.normal(size=4)
    F = theory.class_mean_objective(M, b, cm)
    params = theory.lift(M, b, p)
    f, _ = evaluate(p, params)
    assert f == pytest.approx(F, rel=1e-13)
    Mp, bp = theory.class_means(params, p)
    np.testing.assert_allclose(bp, b, rtol=0, atol=0)
    np.testing.assert_allclose(Mp, M, rtol=0, atol=1e-12)
    x = theory.smooth_point(M, b, cm, 4)
    assert float(theory.smooth_objective(jnp.asarray(x), cm, 4)) == pytest.approx(F, rel=1e-13)
    with pytest.raises(ValueError, match="activation must be 'linear'"):
        theory.class_mean_problem(dufm.Problem(classes=3, per_class=2, width=4, depth=2, activation="relu"))


def test_rectified_simplex():
    """K = C(r, 2): the edges of K_r; r = 4 is the pairs, r = 5 the Petersen code of GD's rank-4 end points in Fig 1."""
    p = dufm.Problem(classes=10, per_class=3, width=(10, 11), depth=2, feature_decay=1e-3, layer_decay=(2e-3, 4e-3), bias="free")
    c = theory.rectified_simplex(p)
    f, g = evaluate(p, c.params)
    assert abs(f - c.loss) <= 1e-12 * c.loss and g <= 1e-9 and c.rank == 4 and c.extra["r"] == 5, (f, c.loss, g)
    fig1 = dufm.Problem(width=10)
    assert round(theory.rectified_simplex(fig1).loss, 12) == 0.081432153339  # experiments/README.md: GD, init std 0.01, rank 4
    six = dufm.Problem(classes=6, per_class=3, width=6, depth=3, weight_decay=1e-3)
    assert theory.rectified_simplex(six).loss == pytest.approx(theory.low_rank(six).loss, rel=1e-13)
    with pytest.raises(ValueError, match="classes must be r\\(r-1\\)/2"):
        theory.rectified_simplex(dufm.Problem(classes=7, per_class=2, width=7, depth=2))


@pytest.mark.parametrize("kw", [dict(loss="ce", weight_decay=0.0), dict(loss="mse", weight_decay=0.0),
                                dict(loss="ce", feature_decay=0.0, layer_decay=0.01)], ids=["ce", "mse", "ce-H-free"])
def test_a_zero_decay_lists_no_candidate_optimum(kw):
    """With a factor unpenalised the infimum (0) lies below every point's loss: the zero point is no candidate."""
    p = dufm.Problem(classes=4, per_class=2, width=5, depth=2, **kw)
    cands = theory.candidates(p)
    assert isinstance(cands["zero"], str) and "weight decay is 0" in cands["zero"]
    assert not [k for k, c in cands.items() if not isinstance(c, str)], cands
    # the point itself is still there to probe, with the loss of uniform logits (CE) or of Z = 0 (MSE)
    f, g = evaluate(p, theory.at_scale(p, "zero", 0.0))
    assert g == 0.0 and f == pytest.approx(np.log(4) if p.loss == "ce" else 0.5, rel=1e-15)  # MSE: (1/2N)||Y||^2


@pytest.mark.parametrize("kw", [dict(loss="ce", bias="free"), dict(loss="mse", bias="none")])
def test_factor_svd_and_resize_against_numpy(kw, rng):
    """The SVD from the factors (QR + an r x r core) equals numpy's SVD of A = M D^(1/2) built from the same point, and
    resize keeps the class means (and so F) at another rank."""
    p = dufm.Problem(classes=6, per_class=(1, 2, 5, 3, 2, 4), width=6, depth=3, weight_decay=0.01, **kw)
    cm = theory.class_mean_problem(p)
    x = rng.normal(size=cm.size(4))
    M, b = theory.smooth_class_means(x, cm, 4)
    A = M * np.sqrt(np.asarray(cm.counts, float))
    U, s, V, bf = theory.factor_svd(x, cm, 4)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:4], rtol=1e-12)
    np.testing.assert_allclose((U * s) @ V.T, A, rtol=0, atol=1e-12 * np.abs(A).max())
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-13)
    assert (bf is None) == (kw["bias"] == "none")
    F = theory.class_mean_objective(M, b, cm)
    for rank in (4, 5, 6):
        y = theory.resize(x, cm, 4, rank)
        My, by = theory.smooth_class_means(y, cm, rank)
        np.testing.assert_allclose(My, M, rtol=0, atol=1e-12 * np.abs(M).max())
        # balanced factors attain the minimal regulariser: the smooth objective equals F exactly there
        assert float(theory.smooth_objective(jnp.asarray(y), cm, rank)) == pytest.approx(F, rel=1e-13)


def test_prune_drops_a_dying_singular_value_and_never_raises_the_objective(rng):
    """At a local minimum of rank 3 (K = 6, L = 3) plus a fourth direction of singular value 1e-6 x the largest, prune
    sets that one to zero (F falls: its penalty ~ sigma^(2/m) outweighs the data's first-order change) and keeps the three
    the minimum uses (dropping one raises F); from random points it never ends above the smooth objective, and its loss is
    F of the point it returns."""
    p = dufm.Problem(classes=6, per_class=5, width=6, depth=3, weight_decay=0.01)
    cm = theory.class_mean_problem(p)
    o = dufm.optimum(p, restarts=8, hessian_limit=0)
    assert o.rank < 5
    U, s, V = theory.class_mean_svd(o.class_means, cm)
    r = s.size
    u = np.linalg.qr(np.column_stack([U, rng.normal(size=6)]))[0][:, r]
    v = np.linalg.qr(np.column_stack([V, rng.normal(size=6)]))[0][:, r]
    A = (U * s) @ V.T + 1e-6 * s[0] * np.outer(u, v)
    x = theory.smooth_point(A / np.sqrt(5.0), None, cm, 5)
    F_x = float(theory.smooth_objective(jnp.asarray(x), cm, 5))
    pr = theory.prune(x, cm, 5)
    assert pr.singular_values.size == r and pr.loss < F_x
    assert pr.loss == pytest.approx(o.loss, rel=1e-12)
    np.testing.assert_allclose(pr.singular_values, s, rtol=1e-12)
    for _ in range(5):
        y = rng.normal(size=cm.size(5)) * rng.uniform(0.2, 2.0)
        pr = theory.prune(y, cm, 5, ratio=0.5)
        assert pr.loss <= float(theory.smooth_objective(jnp.asarray(y), cm, 5)) * (1 + 1e-14)
        M, b = theory.smooth_class_means(pr.x, cm, 5)
        assert pr.loss == pytest.approx(theory.class_mean_objective(M, b, cm), rel=1e-13)


def test_smooth_gradient_norm_against_central_differences(rng):
    """|grad| of the smooth reduced objective equals the norm of central differences of it (h = 1e-5: error ~ h^2)."""
    p = dufm.Problem(classes=4, per_class=(1, 2, 5, 3), width=4, depth=3, weight_decay=0.01, bias="free")
    cm = theory.class_mean_problem(p)
    x = rng.normal(size=cm.size(2))
    f = lambda y: float(theory.smooth_objective(jnp.asarray(y), cm, 2))  # noqa: E731
    h = 1e-5
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    assert theory.smooth_gradient_norm(x, cm, 2) == pytest.approx(np.linalg.norm(fd), rel=1e-8)
