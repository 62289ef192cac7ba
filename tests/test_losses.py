"""Label smoothing and focal loss: values and gradients against an independent numpy implementation, CE at alpha = 0 and
gamma = 0 bit for bit, unchanged run keys, the one-layer neural-collapse closed forms against the full problem, and the
refusals of the command line (float64)."""

import dataclasses
import itertools
import json

import jax
import numpy as np
import pytest
from helpers import assert_objective_matches, assert_rel, random_params, run_cli

import dufm
from dufm import theory
from dufm.model.objective import data_loss, gradient_norm, objective
from dufm.model.problem import finite_optimum

COUNTS = (2, 5, 3)  # imbalanced
K = len(COUNTS)
LOSSES = [("ls", dict(smoothing=a)) for a in (0.05, 0.1, 0.5, 0.9)] + [("focal", dict(focal_gamma=g)) for g in (0.5, 1.0, 2.0, 3.7)]
BIASES = ("none", "free", "regularised")


def make(loss, extra, bias="none", depth=2, activation="linear"):
    return dufm.Problem(classes=K, per_class=COUNTS, width=(4, 5)[:depth] if depth <= 2 else 4, depth=depth, loss=loss,
                        activation=activation, feature_decay=0.03, layer_decay=tuple(0.01 * (l + 1) for l in range(depth)),
                        bias=bias, bias_decay=0.2 if bias == "regularised" else 0.0, **extra)


def random_logits(seed, scale=2.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(K, sum(COUNTS)))


# ---------------------------------------------------------------------------
# the independent implementation: numpy, the formulas as written, explicit gradients


def np_log_softmax(Z):
    m = Z.max(axis=0, keepdims=True)
    return Z - m - np.log(np.sum(np.exp(Z - m), axis=0, keepdims=True))


def np_loss_and_grad(Z, problem):
    """(mean loss, d loss / dZ) of ``problem``'s loss at logits Z (K, N), by the textbook formulas."""
    y = np.repeat(np.arange(K), problem.counts)
    N = len(y)
    logp = np_log_softmax(Z)
    s = np.exp(logp)
    onehot = np.eye(K)[:, y]
    if problem.loss == "ls":
        T = (1 - problem.smoothing) * onehot + problem.smoothing / K
        return -np.sum(T * logp) / N, (s - T) / N
    g = problem.focal_gamma
    p = s[y, np.arange(N)]
    q = np.sum(np.where(onehot > 0, 0.0, s), axis=0)  # 1 - p as the other classes' probabilities
    lp = logp[y, np.arange(N)]
    value = -np.sum(q**g * lp) / N
    # d/dz of phi(p) = -(1 - p)^g log p is phi'(p) p (e_y - s), phi'(p) p = g (1 - p)^(g-1) p log p - (1 - p)^g
    coef = g * q ** (g - 1) * p * lp - q**g
    return value, coef * (onehot - s) / N


def data_grad(Z, problem):
    arch = problem.architecture
    return jax.grad(lambda z: data_loss(z, arch))(Z)


# ---------------------------------------------------------------------------
# values and gradients


@pytest.mark.parametrize("loss,extra", LOSSES)
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_logit_gradient_match_numpy(loss, extra, seed):
    problem = make(loss, extra)
    Z = random_logits(seed)
    want, want_grad = np_loss_and_grad(Z, problem)
    assert_rel(float(data_loss(Z, problem.architecture)), want, 1e-12, "value")
    assert_rel(data_grad(Z, problem), want_grad, 1e-12, "gradient in Z")


@pytest.mark.parametrize("loss,extra", LOSSES)
@pytest.mark.parametrize("bias", BIASES)
def test_full_objective_and_gradient_match_numpy(loss, extra, bias):
    problem = make(loss, extra, bias)
    assert_objective_matches(problem, random_params(problem, 3), lambda Z: np_loss_and_grad(Z, problem))


@pytest.mark.parametrize("loss,extra", [LOSSES[1], LOSSES[4], LOSSES[6]])
def test_second_derivatives_in_the_logits(loss, extra):
    # the Hessian the landscape tools use: LS has CE's, blockdiag(diag(s_i) - s_i s_i^T)/N (the targets are constants),
    # exactly; focal against central differences of the numpy gradient (truncation ~ eps^2, rounding ~ 1e-16 / eps)
    problem = make(loss, extra)
    Z = random_logits(8)
    arch = problem.architecture
    Hs = np.asarray(jax.hessian(lambda z: data_loss(z, arch))(Z))  # (K, N, K, N)
    N = Z.shape[1]
    if loss == "ls":
        s = np.exp(np_log_softmax(Z))
        want = np.zeros_like(Hs)
        for i in range(N):
            want[:, i, :, i] = (np.diag(s[:, i]) - np.outer(s[:, i], s[:, i])) / N
        assert_rel(Hs, want, 1e-12, "LS Hessian")
        return
    eps = 1e-5
    want = np.zeros_like(Hs)
    for k in range(K):
        for i in range(N):
            E = np.zeros_like(Z)
            E[k, i] = eps
            want[:, :, k, i] = (np_loss_and_grad(Z + E, problem)[1] - np_loss_and_grad(Z - E, problem)[1]) / (2 * eps)
    assert_rel(Hs, want, 1e-8, "focal Hessian")


def test_focal_gradient_stays_finite_where_p_y_rounds_to_one():
    # a margin of 60: p_y is 1 in float64, log1p(-p_y) would be -inf and the derivative of (1 - p_y)^gamma nan
    problem = make("focal", dict(focal_gamma=0.5))
    Z = random_logits(4, scale=0.1)
    Z[np.repeat(np.arange(K), COUNTS), np.arange(sum(COUNTS))] += 60.0
    value, grad = float(data_loss(Z, problem.architecture)), np.asarray(data_grad(Z, problem))
    assert np.isfinite(value) and value > 0 and np.all(np.isfinite(grad))
    # the loss is then (1 - p)^gamma (1 - p) to first order, 1 - p = sum_j exp(z_j - z_y) (independent of the rounding)
    y = np.repeat(np.arange(K), COUNTS)
    q = np.array([np.sum(np.exp(np.delete(Z[:, i], y[i]) - Z[y[i], i])) for i in range(len(y))])
    assert_rel(value, np.mean(q**1.5), 1e-12, "value at large margins")


@pytest.mark.parametrize("loss,extra", [("ls", dict(smoothing=0.0)), ("focal", dict(focal_gamma=0.0))])
@pytest.mark.parametrize("bias", BIASES)
def test_zero_parameter_is_ce_bit_for_bit(loss, extra, bias):
    new, ce = make(loss, extra, bias), make("ce", {}, bias)
    Z = random_logits(5)
    assert np.array_equal(np.asarray(data_loss(Z, new.architecture)), np.asarray(data_loss(Z, ce.architecture)))
    assert np.array_equal(np.asarray(data_grad(Z, new)), np.asarray(data_grad(Z, ce)))
    params = random_params(ce, 6)
    fn = [lambda q, p=p: objective(q, p.decays, p.architecture) for p in (new, ce)]
    assert np.array_equal(np.asarray(fn[0](params)), np.asarray(fn[1](params)))
    for a, b in zip(jax.tree_util.tree_leaves(jax.grad(fn[0])(params)), jax.tree_util.tree_leaves(jax.grad(fn[1])(params))):
        assert np.array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------------
# the problem: validation, keys, finite optimum

OLD_KEYS = ["classes", "per_class", "width", "depth", "loss", "activation", "lambda_H", "lambda_W", "bias", "bias_decay", "dtype",
            "parameters"]


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_old_problems_describe_and_hash_as_before(loss):
    p = dufm.Problem(loss=loss, bias="regularised", bias_decay=0.1)
    d = p.to_dict()
    assert list(d) == OLD_KEYS  # the dict a run key hashes: no new field for a loss that does not use it
    assert dufm.Problem.from_dict(d).to_dict() == d


def test_stored_run_keys_of_an_old_store_are_unchanged():
    from pathlib import Path

    from dufm.experiments.config import SweepConfig

    data = Path(__file__).parent / "data"
    manifest = json.loads((data / "store_v0" / "manifest.json").read_text())
    keys = [s.key for s in SweepConfig.from_toml(data / "store_v0.toml").runs()]
    assert keys and keys == manifest["grid"]


@pytest.mark.parametrize("loss,extra,key", [("ls", dict(smoothing=0.2), "smoothing"), ("focal", dict(focal_gamma=2.0), "focal_gamma")])
def test_new_losses_carry_their_parameter_in_the_key(loss, extra, key):
    p = dufm.Problem(loss=loss, **extra)
    d = p.to_dict()
    assert list(d) == OLD_KEYS + [key] and d[key] == extra[key]
    assert dufm.Problem.from_dict(d).to_dict() == d
    assert getattr(p.architecture, key) == extra[key]


@pytest.mark.parametrize("kw,field", [
    (dict(loss="ls", smoothing=1.0), "smoothing"), (dict(loss="ls", smoothing=-0.1), "smoothing"),
    (dict(loss="ls", smoothing=float("nan")), "smoothing"), (dict(loss="focal", focal_gamma=-1.0), "focal_gamma"),
    (dict(loss="focal", focal_gamma=float("inf")), "focal_gamma"), (dict(loss="ce", smoothing=0.1), "smoothing"),
    (dict(loss="focal", smoothing=0.1), "smoothing"), (dict(loss="mse", focal_gamma=1.0), "focal_gamma"),
    (dict(loss="ls", smoothing=0.1, focal_gamma=1.0), "focal_gamma"),
])
def test_bad_parameters_are_refused_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=f"^{field} must "):
        dufm.Problem(**kw)


def test_finite_optimum_of_each_loss():
    # label smoothing with alpha > 0 has finite optimal logits, so it is attained with every decay 0, as MSE is
    for loss, a, want in [("ls", 0.1, [True, False, True]), ("ls", 0.0, [True, False, False]),
                          ("focal", 0.0, [True, False, False]), ("ce", 0.0, [True, False, False]), ("mse", 0.0, [True, False, True])]:
        got = [finite_optimum(loss, d, a) for d in ([0.1, 0.1], [0.1, 0.0], [0.0, 0.0])]
        assert got == want, (loss, a)


def test_closed_forms_of_an_unregularised_label_smoothing_problem_say_why_they_are_not_given():
    cands = theory.candidates(dufm.Problem(depth=1, loss="ls", smoothing=0.1, weight_decay=0.0))
    assert "many factorisations" in cands["dnc"] and "entropy of the smoothed targets" in cands["zero"]
    half = theory.candidates(dufm.Problem(depth=1, loss="ls", smoothing=0.1, feature_decay=0.0))
    assert "no optimum exists" in half["dnc"]


def test_unregularised_label_smoothing_reaches_the_entropy_of_its_targets():
    alpha = 0.2
    problem = dufm.Problem(classes=3, per_class=2, width=3, depth=1, loss="ls", smoothing=alpha, weight_decay=0.0)
    assert problem.finite_optimum
    run = dufm.solve(problem, dufm.SolverConfig(optimizer="lbfgs", steps=3000, init_scale=0.5), [0])[0]
    t = np.array([1 - alpha + alpha / 3, alpha / 3, alpha / 3])
    assert run.status == "converged" and abs(run.loss + np.sum(t * np.log(t))) <= 1e-12
    # the logit gap of every sample is log(1 + K (1 - alpha) / alpha), where softmax = the targets
    Z = np.asarray(dufm.forward(run.params, problem.architecture)[0])
    y = np.repeat(np.arange(3), 2)
    gaps = Z[y, np.arange(6)] - (Z.sum(axis=0) - Z[y, np.arange(6)]) / 2
    assert np.max(np.abs(gaps - np.log(1 + 3 * (1 - alpha) / alpha))) <= 1e-6


# ---------------------------------------------------------------------------
# the one-layer closed forms (Zhou et al. 2022) against the full problem

ONE_LAYER = [("ls", dict(smoothing=0.1)), ("ls", dict(smoothing=0.2)), ("focal", dict(focal_gamma=1.0)), ("focal", dict(focal_gamma=2.0))]


def one_layer(loss, extra, bias="none", lam=0.005):
    return dufm.Problem(classes=4, per_class=3, width=5, depth=1, loss=loss, weight_decay=lam, bias=bias,
                        bias_decay=0.1 if bias == "regularised" else 0.0, **extra)


# slow: a full-problem L-BFGS program per case; one per loss stays in the default set
@pytest.mark.parametrize("loss,extra,bias", [
    pytest.param(loss, extra, bias, marks=() if (i in (0, 3) and bias == "none") else pytest.mark.slow, id=f"{bias}-{loss}-{i}")
    for i, (loss, extra) in enumerate(ONE_LAYER) for bias in ("none", "free")])
def test_one_layer_dnc_is_the_full_problem_optimum(loss, extra, bias):
    problem = one_layer(loss, extra, bias)
    c = theory.dnc(problem)
    assert c.critical and c.rank == 3 and c.scale > 0
    # its parameters: the objective equals the closed form, and the point is critical
    value = float(objective(c.params, problem.decays, problem.architecture))
    assert abs(value - c.loss) <= 1e-12 * abs(c.loss)
    g = jax.grad(lambda q: objective(q, problem.decays, problem.architecture))(c.params)
    assert float(gradient_norm(g)) <= 1e-9
    # L-BFGS on the full problem from several random starts reaches it, never below
    runs = dufm.solve(problem, dufm.SolverConfig(optimizer="lbfgs", steps=5000, tol=1e-12, init_scale=0.3), range(4))
    losses = np.array([r.loss for r in runs])
    assert all(r.status == "converged" for r in runs)
    assert np.min(losses) >= c.loss * (1 - 1e-9)
    assert np.max(np.abs(losses - c.loss)) <= 1e-9 * c.loss


def test_one_layer_dnc_scale_solves_the_scalar_problem_by_finite_differences():
    # the scalar problem's own derivative, against a central difference of the closed-form loss along the scale
    for loss, extra in ONE_LAYER:
        h = theory.reduced_loss(one_layer(loss, extra), "dnc")
        for a in (0.3, 1.0, 2.5, 6.0):
            eps = 1e-5
            fd = (h(a + eps) - h(a - eps)) / (2 * eps)
            assert abs(h.derivative(a) - fd) <= 1e-8 * max(1.0, abs(fd)), (loss, a)


def test_one_layer_dnc_regularised_bias_is_critical_at_zero_bias():
    problem = one_layer("focal", dict(focal_gamma=2.0), "regularised")
    c = theory.dnc(problem)
    assert np.array_equal(c.params.b, np.zeros(4))
    g = jax.grad(lambda q: objective(q, problem.decays, problem.architecture))(c.params)
    assert float(gradient_norm(g)) <= 1e-9


@pytest.mark.parametrize("loss,extra", ONE_LAYER)
@pytest.mark.parametrize("bias,counts", [("none", 3), ("free", 3), ("regularised", 3), ("none", (2, 4, 3, 1)), ("free", (2, 4, 3, 1)),
                                         ("regularised", (2, 4, 3, 1))])
def test_zero_point_is_a_critical_point_with_its_closed_form_loss(loss, extra, bias, counts):
    problem = dufm.Problem(classes=4, per_class=counts, width=5, depth=1, loss=loss, weight_decay=0.005, bias=bias,
                           bias_decay=0.1 if bias == "regularised" else 0.0, **extra)
    cands = theory.candidates(problem)
    if loss == "focal" and bias != "none" and counts != 3:
        assert cands["zero"].startswith("per_class must be one count")
        return
    z = cands["zero"]
    value = float(objective(z.params, problem.decays, problem.architecture))
    assert abs(value - z.loss) <= 1e-12 * abs(z.loss)
    g = jax.grad(lambda q: objective(q, problem.decays, problem.architecture))(z.params)
    assert float(gradient_norm(g)) <= 1e-9


DEEP = [("ls", dict(smoothing=0.1)), ("focal", dict(focal_gamma=2.0)), ("focal", dict(focal_gamma=0.5))]


def check_candidates(problem, names):
    """Each named candidate: the objective at its parameters equals its closed-form loss to 1e-12 (relative); its gradient
    norm is <= 1e-9 where it claims a critical point and >= 1e-6 where it does not."""
    cands = theory.candidates(problem)
    for name in names:
        c = cands[name]
        assert not isinstance(c, str), (name, c)
        value, g = jax.value_and_grad(lambda q: objective(q, problem.decays, problem.architecture))(c.params)
        assert abs(float(value) - c.loss) <= 1e-12 * abs(c.loss), (name, float(value), c.loss)
        gn = float(gradient_norm(g))
        assert (gn <= 1e-9) if c.critical else (gn >= 1e-6), (name, gn, c.critical)
    return cands


# every construction of a loss of softmax(z) at depth L: the same logits as CE's, the loss at their gaps
@pytest.mark.parametrize("loss,extra", DEEP, ids=lambda v: str(v))
@pytest.mark.parametrize("K,depth,bias", [(4, 2, "none"), (4, 3, "free"), (5, 2, "none"), (10, 2, "free"), (12, 3, "none")])
def test_deep_constructions_under_each_loss_are_exact_and_critical_where_claimed(loss, extra, K, depth, bias):
    problem = dufm.Problem(classes=K, per_class=2, width=K + 1, depth=depth, loss=loss, weight_decay=0.005, bias=bias, **extra)
    names = {4: ["dnc", "low_rank", "zero"], 5: ["dnc", "low_rank", "low_rank_two_scale", "circle", "zero"],
             10: ["dnc", "low_rank", "circle", "rectified_simplex"], 12: ["dnc", "low_rank", "softmax_code"]}[K]
    cands = check_candidates(problem, names)
    assert cands["dnc"].rank == K - 1 and cands["low_rank"].rank == K // 2 + K % 2
    assert not cands["low_rank"].critical if K % 2 else cands["low_rank"].critical  # odd K: as for CE


@pytest.mark.slow  # a trust-region polish of the reduced problem per loss
def test_deep_dnc_with_imbalanced_counts_and_the_relu_dnc_under_each_loss():
    for loss, extra in DEEP:
        imbalanced = dufm.Problem(classes=3, per_class=(1, 3, 2), width=4, depth=2, loss=loss, weight_decay=0.01, **extra)
        c = check_candidates(imbalanced, ["dnc"])["dnc"]
        assert c.critical and c.rank == 2
        relu = dufm.Problem(classes=4, per_class=2, width=5, depth=3, loss=loss, activation="relu", weight_decay=0.005, **extra)
        c = theory.dnc(relu)
        value = float(objective(c.params, relu.decays, relu.architecture))
        assert abs(value - c.loss) <= 1e-12 * c.loss and c.lower_bound < c.loss  # a feasible point above the linear DNC
        assert c.lower_bound == theory.dnc(dataclasses.replace(relu, activation="linear")).loss


def gap_loss_numpy(others, beta, loss, extra, K):
    """The per-sample loss of a class whose other logits sit beta * others below its own, from softmax probabilities."""
    z = np.concatenate([[0.0], beta * np.asarray(others)])
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    if loss == "ls":
        t = np.full(K, extra["smoothing"] / K)
        t[0] += 1 - extra["smoothing"]
        return float(-(t @ np.log(p)))
    return float(-((1 - p[0]) ** extra["focal_gamma"]) * np.log(p[0]))


@pytest.mark.parametrize("loss,extra", DEEP, ids=lambda v: str(v))
def test_gap_loss_and_its_derivative_match_softmax_probabilities_and_finite_differences(loss, extra):
    from dufm.theory.closed_forms import _softmax_gap

    K = 6
    problem = dufm.Problem(classes=K, loss=loss, **extra)
    for others in (-np.ones(K - 1), [-2.0] + [-1.0] * (K - 2), [-0.5, -1.5, -2.0, -1.5, -0.5]):
        g, dg = _softmax_gap(problem, others)
        for beta in (0.0, 0.3, 1.7, 5.0):
            assert_rel(g(beta), gap_loss_numpy(others, beta, loss, extra, K), 1e-13, "gap loss")
            h = 1e-5
            assert_rel(dg(beta), (g(beta + h) - g(beta - h)) / (2 * h), 1e-8, "gap loss derivative")
        big = np.array([100.0, 400.0, 800.0])  # margins where 1 - p_y underflows: finite values, no 0 / 0
        if loss == "ls":  # the data term's slope tends to -(alpha/K) sum_j o_j, the pull of the smoothed targets
            assert_rel(dg(big), np.full(3, -extra["smoothing"] / K * np.sum(others)), 1e-12, "LS slope at large margins")
        else:  # focal: positive, decreasing, tending to 0
            assert np.all(np.isfinite(g(big))) and np.all(g(big) >= 0) and np.all(np.isfinite(dg(big))) and np.all(dg(big) <= 0)


# ---------------------------------------------------------------------------
# the command line

BAD = [
    (["solve", "--loss", "ls", "--smoothing", "1"], "--smoothing: smoothing must be a number in [0, 1), got 1.0"),
    (["solve", "--loss", "ls", "--smoothing", "-0.1"], "--smoothing: smoothing must be a number in [0, 1), got -0.1"),
    (["solve", "--loss", "focal", "--focal-gamma", "-1"], "--focal-gamma: focal_gamma must be a finite number >= 0, got -1.0"),
    (["solve", "--smoothing", "0.1"], "--smoothing: smoothing must be 0 unless loss is 'ls' (label smoothing), got 0.1 with loss 'ce'"),
    (["solve", "--loss", "ls", "--focal-gamma", "2"], "--focal-gamma: focal_gamma must be 0 unless loss is 'focal', got 2.0 with loss 'ls'"),
    (["theory", "--loss", "mse", "--focal-gamma", "2"], "--focal-gamma: focal_gamma must be 0 unless loss is 'focal', got 2.0 with loss 'mse'"),
    (["probe", "--loss", "mse", "--point", "low_rank"],
     "--loss: loss must be a loss of softmax(z) ('ce', 'ls' or 'focal') for the Garrod-Keating low-rank construction"),
    (["probe", "--loss", "ls", "--smoothing", "0.1", "--point", "low_rank", "--activation", "relu"],
     "--activation: activation must be 'linear' (or depth 1) for the Garrod-Keating low-rank construction"),
    (["solve", "--loss", "ls", "--smoothing", "0.1", "--classes", "3", "--width", "4", "--init", "spectral"],
     "--init: init must fit the problem: spectral needs classes a power of two for the ls loss (the Hadamard basis), got 3"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_exits_2_with_one_line_naming_the_flag(capsys, args, message):
    code, out, err = run_cli(capsys, args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"dufm {args[0]}: error: {message}"), err


@pytest.mark.parametrize("loss,extra", [("ls", ["--smoothing", "0.1"]), ("focal", ["--focal-gamma", "2"])])
def test_theory_prints_the_same_table_as_for_ce(capsys, loss, extra):
    shape = ["--classes", "10", "--per-class", "5", "--width", "12", "--depth", "3", "--weight-decay", "0.0009765625"]
    code, out, err = run_cli(capsys, ["theory", *shape, "--json"])
    assert code == 0 and err == ""
    ce = json.loads(out)
    code, out, err = run_cli(capsys, ["theory", "--loss", loss, *extra, *shape, "--json"])
    assert code == 0 and err == ""
    rec = json.loads(out)
    problem = dufm.Problem(classes=10, per_class=5, width=12, depth=3, weight_decay=2.0**-10, loss=loss,
                           **{"ls": dict(smoothing=0.1), "focal": dict(focal_gamma=2.0)}[loss])
    cands = theory.candidates(problem)
    rows = [k for k, v in ce.items() if isinstance(v, dict) and "rank" in v]
    assert rows == [k for k, v in rec.items() if isinstance(v, dict) and "rank" in v] and len(rows) >= 5
    for name in rows:  # every CE row is served, with its own rank
        assert rec[name]["loss"] == cands[name].loss and rec[name]["rank"] == ce[name]["rank"], name
    code, out, _ = run_cli(capsys, ["theory", "--loss", loss, *extra, *shape])
    assert code == 0 and f"loss={loss}(" in out and "n/a" not in out


def test_solve_runs_each_loss_and_reports_against_its_closed_form(capsys):
    for loss, extra in (("ls", ["--smoothing", "0.1"]), ("focal", ["--focal-gamma", "2"])):
        code, out, err = run_cli(capsys, ["solve", "--loss", loss, *extra, "--depth", "1", "--classes", "4", "--per-class", "3",
                                          "--width", "5", "--weight-decay", "0.005", "--optimizer", "lbfgs", "--steps", "3000",
                                          "--json"])
        assert code == 0, err
        d = json.loads(out)
        run = d["runs"][0]
        assert run["status"] == "converged" and run["solution_type"] == "dnc"
        assert abs(run["loss"] - d["theory"]["dnc"]) <= 1e-9 * d["theory"]["dnc"]


def test_a_sweep_over_alpha_stores_one_run_per_alpha_with_its_key_and_column(tmp_path):
    import csv

    from helpers import write_sweep

    from dufm.experiments.config import SweepConfig
    from dufm.experiments.sweep import run_sweep

    path = write_sweep(tmp_path, seeds=1, problem=dict(loss="ls", smoothing=0.1), grid={"smoothing": [0.1, 0.3]})
    result = run_sweep(SweepConfig.from_toml(path), out=tmp_path / "out")
    assert (result.total, result.ran) == (2, 2)
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert sorted(float(r["smoothing"]) for r in rows) == [0.1, 0.3] and {r["loss_type"] for r in rows} == {"ls"}
    assert len({r["key"] for r in rows}) == 2 and "focal_gamma" not in rows[0]


@pytest.mark.parametrize("loss,extra", [("ls", dict(smoothing=0.1)), ("focal", dict(focal_gamma=2.0))])
def test_the_gradient_at_spectral_logits_is_diagonal_in_the_hadamard_basis_only(loss, extra):
    # why --init spectral needs K a power of two for these losses as for CE: at Z = Q diag(sigma) Q^T E the logit
    # gradient is Q diag(.) Q^T E (GD moves only the K modes) for the Hadamard Q, not for the identity basis of K = 6
    from dufm.model.init import class_basis, label_basis

    for classes, diagonal in ((8, True), (6, False)):
        arch = dufm.Problem(classes=classes, per_class=2, width=classes, depth=1, loss=loss, **extra).architecture
        E, Q = class_basis(arch), label_basis(arch)
        sigma = np.random.default_rng(classes).uniform(0.5, 3.0, classes)
        G = np.asarray(jax.grad(lambda z: data_loss(z, arch))(Q @ np.diag(sigma) @ Q.T @ E))
        assert np.max(np.abs(G @ E.T @ E - G)) <= 1e-15 * np.max(np.abs(G)) * classes  # in the class indicators' span
        D = Q.T @ G @ E.T @ Q
        off = np.max(np.abs(D - np.diag(np.diag(D)))) / np.max(np.abs(D))
        assert (off <= 1e-13) if diagonal else (off > 1e-3), (classes, off)


def test_losses_of_each_kind_differ_and_alpha_and_gamma_matter():
    # a check that the tests above can fail: the losses are not one another
    Z = random_logits(7)
    vals = {}
    for loss, extra in itertools.chain([("ce", {})], LOSSES):
        vals[(loss, tuple(extra.values()))] = float(data_loss(Z, make(loss, extra).architecture))
    assert len(set(vals.values())) == len(vals)
