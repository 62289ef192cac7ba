"""Multi-label learning (Li et al. 2023): the label-set layout against itertools, pick-all-label and one-vs-all BCE
against an independent numpy implementation (value and gradient, every bias mode), pick-all-label at one label per
sample equal to CE, the multi-label collapse metrics on constructed features against numpy, the refusals of the
commands, and Li et al.'s K = 3 problem solved to its collapse (float64)."""

import itertools
import json
import math

import jax
import numpy as np
import pytest
from helpers import assert_objective_matches, assert_rel, full_multistart, random_params, run_cli

import dufm
from dufm.analysis.collapse import nc_metrics
from dufm.analysis.multilabel import multilabel_metrics
from dufm.analysis.spectra import label_set_margins, margins
from dufm.model.objective import data_loss, labels, objective
from dufm.model.problem import label_set_count, label_sets
from dufm.solving.history import nc1_history
from dufm.store import jsonable

K, M, n = 4, 2, 2
BIASES = ("none", "free", "regularised")
OLD_KEYS = ["classes", "per_class", "width", "depth", "loss", "activation", "lambda_H", "lambda_W", "bias", "bias_decay", "dtype",
            "parameters"]


def make(loss, labels_per_sample=M, bias="none", per_class=n, classes=K, depth=2):
    return dufm.Problem(classes=classes, per_class=per_class, labels_per_sample=labels_per_sample, width=(4, 5)[:depth],
                        depth=depth, loss=loss, feature_decay=0.03, layer_decay=tuple(0.01 * (l + 1) for l in range(depth)),
                        bias=bias, bias_decay=0.2 if bias == "regularised" else 0.0)


def expected_sets(classes, m_max):
    """The label sets by size, then lexicographically, written out without dufm."""
    out = []
    for size in range(1, m_max + 1):
        out += sorted(tuple(c) for c in itertools.combinations(range(classes), size))
    return out


def indicator(classes, m_max, per_set):
    """Y (K, N): per_set columns per set of :func:`expected_sets`, Y_ki = [k in S_i]."""
    cols = []
    for s in expected_sets(classes, m_max):
        cols += [[1.0 if k in s else 0.0 for k in range(classes)]] * per_set
    return np.array(cols).T


# ---------------------------------------------------------------------------
# the layout


@pytest.mark.parametrize("classes,m_max", [(3, 1), (3, 2), (3, 3), (4, 2), (5, 3), (6, 6)])
def test_label_sets_samples_and_labels_follow_itertools(classes, m_max):
    want = expected_sets(classes, m_max)
    assert list(label_sets(classes, m_max)) == want
    assert label_set_count(classes, m_max) == len(want) == sum(math.comb(classes, m) for m in range(1, m_max + 1))
    loss = "pal" if m_max > 1 else "ce"
    p = dufm.Problem(classes=classes, per_class=3, labels_per_sample=m_max, width=4, loss=loss)
    assert p.samples == p.architecture.samples == 3 * len(want)
    assert p.architecture.single_label_samples == 3 * classes
    assert np.array_equal(labels(p.architecture), indicator(classes, m_max, 3))
    assert p.parameter_count == 4 * p.samples + 4 * 4 + classes * 4


def test_one_label_per_sample_keeps_the_keys_of_every_problem():
    for loss in ("ce", "mse"):
        a, b = dufm.Problem(loss=loss), dufm.Problem(loss=loss, labels_per_sample=1)
        assert list(a.to_dict()) == OLD_KEYS and a.to_dict() == b.to_dict()
    p = make("pal")
    d = p.to_dict()
    assert list(d) == OLD_KEYS + ["labels_per_sample"] and d["labels_per_sample"] == M and d["per_class"] == [n] * K
    assert dufm.Problem.from_dict(d).to_dict() == d
    assert p.architecture.labels_per_sample == M


@pytest.mark.parametrize("kw,field", [
    (dict(labels_per_sample=5), "labels_per_sample"), (dict(labels_per_sample=0), "labels_per_sample"),
    (dict(labels_per_sample=-1), "labels_per_sample"), (dict(labels_per_sample=1.5), "labels_per_sample"),
    (dict(labels_per_sample=2.0), "labels_per_sample"), (dict(labels_per_sample=True), "labels_per_sample"),
    (dict(labels_per_sample="2"), "labels_per_sample"), (dict(per_class=(2, 2, 2, 2)), "per_class"),
    (dict(per_class=(1, 2, 3, 4)), "per_class"), (dict(loss="ce"), "loss"), (dict(loss="mse"), "loss"),
    (dict(loss="ls", smoothing=0.1), "loss"), (dict(loss="focal", focal_gamma=2.0), "loss"),
    (dict(classes=60, labels_per_sample=30), "labels_per_sample"),
])
def test_bad_label_sets_are_refused_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=f"^{field} must "):
        dufm.Problem(**{**dict(classes=K, per_class=n, labels_per_sample=M, width=4, loss="pal"), **kw})


def test_every_loss_of_a_label_set_serves_one_label_per_sample_too():
    for loss in ("pal", "bce"):
        p = dufm.Problem(classes=3, per_class=(2, 5, 3), loss=loss, width=4)
        assert not p.multi_label and p.samples == 10 and p.finite_optimum  # every decay > 0
    assert not dufm.Problem(loss="bce", weight_decay=0.0).finite_optimum  # as CE: the infimum needs infinite logits
    assert not dufm.Problem(classes=3, labels_per_sample=2, loss="pal", weight_decay=0.0).finite_optimum


# ---------------------------------------------------------------------------
# the losses against numpy


def np_loss_and_grad(Z, Y, loss):
    """(mean loss, d loss / dZ) at logits Z (K, N) for label indicators Y, by the textbook formulas."""
    N = Z.shape[1]
    if loss == "pal":
        m = Z.max(axis=0, keepdims=True)
        logp = Z - m - np.log(np.sum(np.exp(Z - m), axis=0, keepdims=True))
        p = np.exp(logp)
        return -np.sum(Y * logp) / N, (Y.sum(axis=0, keepdims=True) * p - Y) / N  # sum_{k in S} (p - e_k)
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    sp = lambda x: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))  # noqa: E731
    sig = 1.0 / (1.0 + np.exp(-Z))
    return np.sum(Y * sp(-Z) + (1 - Y) * sp(Z)) / N, (sig - Y) / N


@pytest.mark.parametrize("loss", ["pal", "bce"])
@pytest.mark.parametrize("m_max", [1, 2, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_logit_gradient_match_numpy(loss, m_max, seed):
    problem = make(loss, m_max)
    arch = problem.architecture
    Z = np.random.default_rng(seed).normal(scale=3.0, size=(K, problem.samples))
    Y = indicator(K, m_max, n)
    want, want_grad = np_loss_and_grad(Z, Y, loss)
    assert_rel(float(data_loss(Z, arch)), want, 1e-12, "value")
    assert_rel(jax.grad(lambda z: data_loss(z, arch))(Z), want_grad, 1e-12, "gradient in Z")


@pytest.mark.parametrize("loss", ["pal", "bce"])
@pytest.mark.parametrize("bias", BIASES)
def test_full_objective_and_gradient_match_numpy(loss, bias):
    problem = make(loss, bias=bias)
    assert_objective_matches(problem, random_params(problem, 3), lambda Z: np_loss_and_grad(Z, indicator(K, M, n), loss))


@pytest.mark.parametrize("bias", BIASES)
def test_pick_all_label_with_one_label_per_sample_is_ce_bit_for_bit(bias):
    counts = (2, 5, 3)
    pal, ce = (dufm.Problem(classes=3, per_class=counts, width=(4, 5), loss=loss, bias=bias,
                            bias_decay=0.2 if bias == "regularised" else 0.0) for loss in ("pal", "ce"))
    Z = np.random.default_rng(0).normal(scale=2.0, size=(3, 10))
    for f in (lambda z, a: data_loss(z, a), jax.grad(lambda z, a: data_loss(z, a))):
        assert np.array_equal(f(Z, pal.architecture), f(Z, ce.architecture))
    params = random_params(pal, 1)
    obj = lambda q, p: objective(q, p.decays, p.architecture)  # noqa: E731
    assert np.array_equal(obj(params, pal), obj(params, ce))
    for a, b in zip(jax.tree_util.tree_leaves(jax.grad(obj)(params, pal)), jax.tree_util.tree_leaves(jax.grad(obj)(params, ce))):
        assert np.array_equal(a, b)


def test_bce_stays_exact_at_large_margins():
    problem = make("bce")
    Y = indicator(K, M, n)
    Z = np.where(Y > 0, 60.0, -45.0)  # sigmoid rounds to 1 and 0: 1 - sigmoid would lose every digit
    value = float(data_loss(Z, problem.architecture))
    # each term is log(1 + e^-|z|) = e^-|z| to first order (the next term, e^-2|z|/2, is below the last bit)
    want = np.sum(np.where(Y > 0, np.exp(-60.0), np.exp(-45.0))) / Z.shape[1]
    assert abs(value - want) <= 1e-12 * want
    grad = np.asarray(jax.grad(lambda z: data_loss(z, problem.architecture))(Z))
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 0)


# ---------------------------------------------------------------------------
# the metrics on constructed features


def simplex(classes, d, rng):
    """K centred class means forming a simplex ETF in R^d (d >= K), rotated at random."""
    Q, _ = np.linalg.qr(rng.normal(size=(d, classes)))
    return Q @ (np.eye(classes) - 1.0 / classes)


def constructed(classes, m_max, per_set, scales, noise, d=7, offset=0.0, seed=0):
    """Features (d, N) in dufm's layout: single-label means an ETF around ``offset`` g, each mean of multiplicity m
    g + c_m (average of its labels' means - g), samples the mean plus ``noise`` x N(0, 1) with zero mean per set."""
    rng = np.random.default_rng(seed)
    g = offset * rng.normal(size=d)
    single = simplex(classes, d, rng) + g[:, None]
    cols = []
    for s in expected_sets(classes, m_max):
        avg = single[:, list(s)].mean(axis=1)
        mean = avg if len(s) == 1 else g + scales[len(s)] * (avg - g)
        e = noise * rng.normal(size=(d, per_set))
        cols.append(mean[:, None] + e - e.mean(axis=1, keepdims=True))
    return np.concatenate(cols, axis=1)


def np_metrics(F, classes, m_max, per_set):
    """The multi-label metrics written out: set means by loops, the scale by least squares (np.linalg.lstsq)."""
    sets = expected_sets(classes, m_max)
    means = {s: F[:, j * per_set:(j + 1) * per_set].mean(axis=1) for j, s in enumerate(sets)}
    g = np.mean([means[(k,)] for k in range(classes)], axis=0)
    spread = np.mean([np.sum((means[(k,)] - g) ** 2) for k in range(classes)])
    out = []
    for m in range(2, m_max + 1):
        these = [s for s in sets if len(s) == m]
        x = np.concatenate([means[s] - g for s in these])
        a = np.concatenate([np.mean([means[(k,)] for k in s], axis=0) - g for s in these])
        c = np.linalg.lstsq(a[:, None], x, rcond=None)[0][0] if m < classes else None
        r = x - (c or 0.0) * a
        dev = [F[:, j * per_set + i] - means[s] for j, s in enumerate(sets) if len(s) == m for i in range(per_set)]
        out.append((m, c, np.sum(r**2) / len(these) / spread, np.mean([np.sum(v**2) for v in dev]) / spread))
    return out


@pytest.mark.parametrize("classes,m_max", [(3, 2), (4, 3), (5, 2), (4, 4)])
@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_metrics_vanish_on_the_exact_multilabel_structure(classes, m_max, offset):
    scales = {m: 1.0 + 0.4 * m for m in range(2, m_max + 1)}
    F = constructed(classes, m_max, 3, scales, 0.0, offset=offset)
    got = multilabel_metrics(F, classes, m_max, 3)
    assert [r.m for r in got] == list(range(2, m_max + 1))
    for r in got:
        assert r.tag_average <= 1e-12 and r.within <= 1e-12, r
        if r.m < classes:
            assert abs(r.scale - scales[r.m]) <= 1e-12 * scales[r.m], r
        else:  # the full set: its labels' average is g, so its relation h_S = g holds for every scale
            assert r.scale is None
    single = nc_metrics(F[:, : 3 * classes], (3,) * classes)
    assert single.nc1 <= 1e-12 and single.nc1_trace <= 1e-12 and single.nc2_etf <= 1e-12


@pytest.mark.parametrize("classes,m_max", [(3, 2), (4, 3), (4, 4)])
def test_metrics_of_perturbed_features_match_numpy(classes, m_max):
    scales = {m: 0.7 * m for m in range(2, m_max + 1)}
    F = constructed(classes, m_max, 3, scales, 0.3, offset=1.5, seed=4)
    F += 0.2 * np.random.default_rng(9).normal(size=F.shape)  # moves every mean off the structure
    got = multilabel_metrics(F, classes, m_max, 3)
    for r, (m, c, tag, within) in zip(got, np_metrics(F, classes, m_max, 3), strict=True):
        assert r.m == m and r.tag_average > 1e-3 and r.within > 1e-3
        assert abs(r.tag_average - tag) <= 1e-12 * tag and abs(r.within - within) <= 1e-12 * within
        assert (r.scale is None) == (c is None) and (c is None or abs(r.scale - c) <= 1e-12 * abs(c))


def test_metrics_of_a_trivial_point_are_undefined():
    got = multilabel_metrics(np.zeros((4, 3 * 6)), 3, 2, 3)
    assert got == (dufm.MultiLabelMetrics(2, None, None, None),)


def test_analyse_reports_single_label_nc_and_the_multilabel_metrics_of_every_layer():
    problem = dufm.Problem(classes=3, per_class=3, labels_per_sample=2, width=7, depth=2, loss="pal", weight_decay=0.01)
    F = constructed(3, 2, 3, {2: 1.6}, 0.0)
    rng = np.random.default_rng(2)
    params = dufm.Params(F, (rng.normal(size=(7, 7)), rng.normal(size=(3, 7))))
    a = dufm.analyse(params, problem)
    assert set(a.multilabel) == set(a.nc) == {"H1", "H2", "Z"}
    Z = params.W[1] @ params.W[0] @ F
    for name, X in (("H1", F), ("H2", params.W[0] @ F), ("Z", Z)):
        (got,), (want,) = a.multilabel[name], multilabel_metrics(X, 3, 2, 3)  # X by numpy, the analysis's by JAX
        assert got.m == want.m == 2 and abs(got.scale - want.scale) <= 1e-12 * want.scale
        assert abs(got.tag_average - want.tag_average) <= 1e-12 and abs(got.within - want.within) <= 1e-12
        # a linear layer maps each mean to the same multiple of its labels' average: the scale is every layer's
        assert abs(a.multilabel[name][0].scale - 1.6) <= 1e-12 and a.multilabel[name][0].tag_average <= 1e-12
    assert a.nc["H1"] == nc_metrics(F[:, :9], (3, 3, 3), params.W[0])
    assert np.allclose(a.class_mean_logits, Z[:, :9].reshape(3, 3, 3).mean(axis=2), rtol=0, atol=1e-14)
    back = dufm.Analysis.from_dict(json.loads(json.dumps(jsonable(a.to_dict()))))
    assert back.multilabel == a.multilabel


def test_the_recorded_nc1_is_that_of_the_single_label_samples():
    problem = dufm.Problem(classes=3, per_class=2, labels_per_sample=3, width=(5, 4), depth=2, loss="bce", activation="relu")
    params = random_params(problem, 5)
    got = np.asarray(nc1_history(params, problem.architecture))
    H1 = np.asarray(params.H)
    H2 = np.maximum(np.asarray(params.W[0]) @ H1, 0.0)
    want = [nc_metrics(h[:, :6], (2, 2, 2)).nc1_trace for h in (H1, H2)]
    assert_rel(got, want, 1e-12, "nc1 history")


def test_label_set_margins_are_the_margins_with_one_label():
    Z = np.random.default_rng(0).normal(size=(4, 12))
    assert np.array_equal(label_set_margins(Z, indicator(4, 1, 3)), margins(Z, (3, 3, 3, 3)))
    Y = indicator(3, 3, 1)  # {0}, {1}, {2}, {0,1}, {0,2}, {1,2}, {0,1,2}
    Z = np.arange(21.0).reshape(3, 7)
    want = [Z[0, i] - Z[1:, i].max() for i in range(1)] + [Z[1, 1] - max(Z[0, 1], Z[2, 1]), Z[2, 2] - Z[:2, 2].max(),
                                                            min(Z[0, 3], Z[1, 3]) - Z[2, 3], min(Z[0, 4], Z[2, 4]) - Z[1, 4],
                                                            min(Z[1, 5], Z[2, 5]) - Z[0, 5]]
    assert np.array_equal(label_set_margins(Z, Y), want)  # the full set has no other class: left out


# ---------------------------------------------------------------------------
# the commands

SHAPE = ["--classes", "3", "--per-class", "2", "--width", "4"]
BAD = [
    (["solve", *SHAPE, "--loss", "pal", "--labels-per-sample", "4"],
     "--labels-per-sample: labels_per_sample must be an integer <= classes (3): a label set has at most K classes, got 4"),
    (["solve", *SHAPE, "--loss", "pal", "--labels-per-sample", "0"], "--labels-per-sample: labels_per_sample must be an integer >= 1, got 0"),
    (["solve", *SHAPE, "--loss", "pal", "--labels-per-sample", "1.5"], "argument --labels-per-sample: not an integer: '1.5'"),
    (["solve", *SHAPE, "--labels-per-sample", "2"],
     "--loss: loss must be 'pal' or 'bce' (a loss of a label set) when labels_per_sample > 1, got 'ce'"),
    (["sweep", "--name", "x", "--classes", "3", "--per-class", "2,2,3", "--loss", "bce", "--labels-per-sample", "2"],
     "--per-class: per_class must be one count n when labels_per_sample > 1"),
    (["solve", *SHAPE, "--loss", "pal", "--labels-per-sample", "2", "--init", "spectral"],
     "--init: init must fit the problem: spectral needs one label per sample"),
    (["theory", *SHAPE, "--loss", "pal", "--labels-per-sample", "2"],
     "--labels-per-sample: labels_per_sample must be 1 for the closed forms: dufm's constructions have one label per sample"),
    (["theory", *SHAPE, "--loss", "pal"],
     "--loss: loss must be one of ce, mse, ls, focal for the closed forms, got 'pal' (a multi-label loss, docs/multilabel.md; "
     "with one label per sample pal is ce: use --loss ce)"),
    (["theory", *SHAPE, "--loss", "bce"],
     "--loss: loss must be one of ce, mse, ls, focal for the closed forms, got 'bce' (a multi-label loss, docs/multilabel.md)"),
    (["probe", *SHAPE, "--loss", "pal", "--labels-per-sample", "2", "--point", "dnc"],
     "--labels-per-sample: labels_per_sample must be 1 for the DNC closed form"),
    (["probe", *SHAPE, "--loss", "bce", "--point", "zero"], "--loss: loss must be one of ce, mse, ls, focal for the zero point's"),
    (["probe", *SHAPE, "--loss", "pal", "--labels-per-sample", "2", "--point", "low_rank", "--scale", "1"],
     "--labels-per-sample: labels_per_sample must be 1 for the low_rank closed form"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_exits_2_with_one_line_naming_the_flag(capsys, args, message):
    code, out, err = run_cli(capsys, args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"dufm {args[0]}: error: {message}"), err


# ---------------------------------------------------------------------------
# Li et al.'s K = 3 problem: {0}, {1}, {2}, {0,1}, {0,2}, {1,2}, n = 5 each

K3 = ["--classes", "3", "--per-class", "5", "--labels-per-sample", "2", "--width", "6", "--loss", "pal", "--weight-decay", "0.005",
      "--optimizer", "lbfgs", "--steps", "5000", "--init-scale", "0.3"]


def two_gap_minimum(depth, lam=0.005, n=5):
    """(loss, c_2) of the symmetric K = 3, M = 2 point, found without dufm: single-label logits a (e_k - 1/3), pair logits
    b (1/3 - e_l) (l the class outside the pair; both centred), so Z Z^T = n (a^2 + b^2) S, two singular values
    sqrt(n (a^2 + b^2)), and the linear deep UFM's minimal regulariser (m/2) lam sum_i sigma_i^(2/m), m = L + 1, gives
        f(a, b) = (1/2) log(1 + 2 e^-a) + log(2 + e^-b) + m lam (n (a^2 + b^2))^(1/m)
    (CE of a single-label sample, PAL -2 log p_j of a pair sample, each kind half of the N = 6n samples); the pair means
    are c_2 = 2b/a times their labels' average a/2 (1/3 - e_l)."""
    from scipy.optimize import minimize

    m = depth + 1
    f = lambda x: 0.5 * np.log1p(2 * np.exp(-x[0])) + np.log(2 + np.exp(-x[1])) + m * lam * (n * (x[0] ** 2 + x[1] ** 2)) ** (1 / m)  # noqa: E731
    r = minimize(f, [3.0, 2.0], method="Nelder-Mead", options=dict(xatol=1e-13, fatol=1e-16, maxiter=20000))
    return r.fun, 2 * r.x[1] / r.x[0]


@pytest.mark.parametrize("depth", ["1", "2"])
def test_pick_all_label_reaches_the_multilabel_collapse_at_k3(capsys, depth):
    code, out, err = run_cli(capsys, ["solve", *K3, "--depth", depth, "--json"])
    assert code == 0, err
    d = json.loads(out)
    run = d["runs"][0]
    assert run["status"] == "converged" and run["grad_norm"] <= 1e-10 and d["theory"] == {}
    loss, c2 = two_gap_minimum(int(depth))  # L = 1: 0.844949077329763, c_2 = 1.73685; L = 2: 0.796755870891598, 1.77294
    assert abs(run["loss"] - loss) <= 1e-12 * loss and abs(run["multilabel"]["Z"][0]["scale"] - c2) <= 1e-6 * c2
    assert d["problem"]["labels_per_sample"] == 2 and len(run["history"]["nc1_trace"]) >= 1
    scales = []
    for name, nc in run["nc"].items():  # the single-label samples: collapsed onto a simplex ETF
        assert nc["nc1"] <= 1e-12 and nc["nc2_etf"] <= 1e-8, (name, nc)
        (m2,) = run["multilabel"][name]
        assert m2["m"] == 2 and m2["tag_average"] <= 1e-12 and m2["within"] <= 1e-12, (name, m2)
        scales.append(m2["scale"])
    assert max(scales) - min(scales) <= 1e-8 * max(scales)  # a linear net carries one c_2 through every layer
    code, out, err = run_cli(capsys, ["solve", *K3, "--depth", depth])
    assert code == 0 and "closed forms: none (dufm has no constructions for the multi-label losses" in out
    assert "single-label samples" in out and "multi-label collapse (Li et al. 2023)" in out


@pytest.mark.parametrize("depth", [1, 2])
def test_the_optimum_over_label_set_means_is_the_two_gap_point(depth):
    """dufm optimum's search of the K x (number of sets) problem (both losses convex in the logits: features collapse
    within every label set) against the symmetric point minimised without dufm, to 1e-12; proven at L = 1."""
    from dufm.theory.optimum import Global

    p = dufm.Problem(classes=3, per_class=5, labels_per_sample=2, width=6, depth=depth, loss="pal", weight_decay=0.005)
    o = dufm.optimum(p, restarts=8)
    loss, _ = two_gap_minimum(depth)
    assert abs(o.loss - loss) <= 1e-12 * loss and o.rank == 2, (o.loss, loss)
    assert o.global_claim == (Global.PROVEN if depth == 1 else Global.BEST_FOUND), o.global_reason
    cert = o.certificate
    assert abs(cert.objective - o.loss) <= 1e-12 * o.loss and cert.grad_norm <= 1e-9 and cert.local_minimum is True
    assert o.class_means.shape == (3, 6)  # one column per label set


@pytest.mark.slow  # a full-problem L-BFGS program per case
@pytest.mark.parametrize("loss,depth", [("pal", 2), ("bce", 1), ("bce", 2)])
def test_no_full_problem_start_beats_the_label_set_optimum(loss, depth):
    p = dufm.Problem(classes=3, per_class=5, labels_per_sample=2, width=6, depth=depth, loss=loss, weight_decay=0.005)
    o = dufm.optimum(p, restarts=8, hessian_limit=0)
    best = full_multistart(p, steps=3000)
    assert o.loss - 1e-10 <= best <= o.loss + 1e-8, (best, o.loss)


def test_a_sweep_over_labels_per_sample_stores_the_multilabel_metrics(tmp_path):
    import csv

    from helpers import write_sweep

    from dufm.experiments.config import SweepConfig
    from dufm.experiments.sweep import run_sweep

    path = write_sweep(tmp_path, seeds=1, problem=dict(loss="pal", depth=1, labels_per_sample=1),
                       grid={"labels_per_sample": [1, 2]})
    result = run_sweep(SweepConfig.from_toml(path), out=tmp_path / "out")
    assert (result.total, result.ran) == (2, 2)
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert sorted(int(r["labels_per_sample"]) for r in rows) == [1, 2] and {r["loss_type"] for r in rows} == {"pal"}
    records = {r.problem.labels_per_sample: r for r in dufm.load_results(tmp_path / "out").records}
    assert records[1].analysis.multilabel is None and records[1].problem.samples == 6
    assert records[2].problem.samples == 12 and [m.m for m in records[2].analysis.multilabel["Z"]] == [2]
