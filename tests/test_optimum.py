"""dufm.optimum against the full problem, the classical optima and the known constructions (float64)."""

import json

import jax
import numpy as np
import pytest
from helpers import full_multistart

import dufm
from dufm import critical, theory
from dufm.cli import main, text
from dufm.theory.optimum import Global, Method, OptimumConfig, optimum

SMALL = [  # K <= 4, d <= 6, L <= 3, imbalanced: CE with a free bias; MSE with a free bias and unequal decays (balanced CE:
    # test_small_K_at_depth_two_is_dnc_and_fig1_reaches_the_pairs)
    dict(classes=4, per_class=(1, 3, 2, 2), width=5, depth=3, loss="ce", weight_decay=0.01, bias="free"),
    dict(classes=3, per_class=(1, 3, 2), width=4, depth=2, loss="mse", feature_decay=0.02, layer_decay=(0.01, 0.03), bias="free"),
    # label smoothing: convex in the logits, so the class-mean reduction holds as for CE; focal loss (not convex): the
    # search covers collapsed features, and no full-problem start goes below it (docs/losses.md)
    dict(classes=4, per_class=(1, 3, 2, 2), width=5, depth=3, loss="ls", smoothing=0.1, weight_decay=0.01, bias="free"),
    dict(classes=4, per_class=(1, 3, 2, 2), width=5, depth=2, loss="focal", focal_gamma=2.0, weight_decay=0.01),
]


# slow: each case's search, certificate and full-problem L-BFGS compile programs of their own; by default the search is
# certified in test_depth_one_returns_the_classical_optima (the CLI's, with a Hessian) and multi-starts in test_relu_...
@pytest.mark.parametrize("kw", [pytest.param(kw, marks=pytest.mark.slow) for kw in SMALL],
                         ids=lambda kw: f"K{kw['classes']}-L{kw['depth']}-{kw['loss']}-{kw.get('bias', 'none')}")
def test_no_full_problem_start_beats_the_reduced_optimum(kw):
    problem = dufm.Problem(**kw)
    hessian = problem.loss == "ce"  # one dense Hessian is enough (and keeps the test cheap)
    o = optimum(problem, restarts=8, hessian_limit=16000 if hessian else 0)
    assert o.method == Method.REDUCED
    # linear MSE (free bias) equals its closed-form global minimum; CE at depth 3 is the best minimum found
    assert o.global_claim == (Global.PROVEN if problem.loss == "mse" else Global.BEST_FOUND), o.global_reason
    assert o.grad_norm <= 1e-12  # the polish of the reduced problem
    cert = o.certificate
    assert abs(cert.objective - o.loss) <= 1e-12 * max(1.0, abs(o.loss))  # lifted parameters give the reduced loss
    assert cert.grad_norm <= 1e-9 and cert.critical
    if hessian:
        # no negative eigenvalue, and a null space no larger than the symmetries (rotation orbit, and b -> b + c 1 for
        # CE with a free bias): a local minimum modulo symmetry
        c = cert.classification
        assert c.index == 0 and c.nullity == cert.symmetry_dimension, (c.index, c.nullity, cert.symmetry_dimension)
        assert critical.symmetry_dimension(o.params, problem.architecture) + 1 == cert.symmetry_dimension  # the Stiefel count
        assert cert.local_minimum is True
    best_full = full_multistart(problem)
    assert best_full >= o.loss - 1e-10, (best_full, o.loss)
    assert best_full <= o.loss + 1e-8  # and the full multi-start does reach it: the optimum is attained
    if problem.loss == "mse":  # the imbalanced MSE closed form (per-singular-value scalar problems) is that optimum
        closed = theory.dnc(problem).loss
        assert abs(closed - o.loss) <= 1e-12 and abs(closed - best_full) <= 1e-9, (closed, o.loss, best_full)


def test_depth_one_returns_the_classical_optima(capsys):
    """Zhu et al. (CE, through the command line's JSON) and the MSE closed form, DNC or zero, to 1e-12."""
    argv = ["optimum", "--classes", "4", "--per-class", "3", "--width", "6", "--depth", "1", "--feature-decay", "1e-2",
            "--layer-decay", "3e-3", "--restarts", "8", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("loss", "rank", "singular_values", "grad_norm", "restarts", "distinct_minima", "candidates", "certificate"):
        assert key in out
    assert out["restarts"] == 8 and {"loss", "rank", "count"} <= set(out["distinct_minima"][0])
    assert out["global"] == "proven" and out["global_reason"].startswith("L = 1") and "certified_global" not in out
    search = out["search"]
    assert search["starts"] == out["starts"] and search["converged"] == out["starts"] - out["unsettled"]
    assert search["reached_best"] == out["distinct_minima"][0]["count"] >= 1
    assert search["distinct_minima"] == len(out["distinct_minima"])
    assert out["certificate"]["local_minimum_modulo_symmetry"] is True
    ce = dufm.Problem(classes=4, per_class=3, width=6, depth=1, feature_decay=1e-2, layer_decay=3e-3)
    assert abs(out["loss"] - theory.dnc(ce).loss) <= 1e-12 and out["rank"] == 3
    assert out["candidates"]["dnc"]["loss"] == theory.dnc(ce).loss
    assert theory.dnc(ce).scale == pytest.approx(theory.zhu_margin(ce), rel=1e-12)
    cert = out["certificate"]
    assert cert["grad_norm"] <= 1e-9 and cert["index"] == 0 and cert["nullity"] == cert["symmetry_dimension"]
    for lam, rank in ((2e-2, 4), (0.2, 0)):  # 1 - K sqrt(n) lambda > 0: DNC; < 0: zero
        mse = dufm.Problem(classes=4, per_class=3, width=6, depth=1, weight_decay=lam, loss="mse")
        o = optimum(mse, restarts=8, hessian_limit=0)
        assert abs(o.loss - theory.dnc(mse).loss) <= 1e-12 and o.rank == rank, (o.loss, theory.dnc(mse).loss, o.rank)
        assert o.global_claim == Global.PROVEN and o.certificate.local_minimum is None  # no Hessian asked for
        assert o.certificate.local_minimum_note.startswith("not checked: no Hessian")
    assert o.loss == 0.5 and theory.mse_ufm_scale(mse) == 0.0


@pytest.mark.parametrize("loss", [dict(loss="ls", smoothing=0.1), dict(loss="focal", focal_gamma=2.0)], ids=lambda d: d["loss"])
def test_depth_one_label_smoothing_and_focal_optima_are_the_one_layer_collapse(loss):
    """Zhou et al.'s one-layer collapse (dufm.theory.dnc at its optimal scale) is what the search finds, to 1e-12."""
    p = dufm.Problem(classes=4, per_class=3, width=5, depth=1, weight_decay=0.005, **loss)
    o = optimum(p, restarts=8, hessian_limit=0)
    closed = theory.dnc(p)
    assert abs(o.loss - closed.loss) <= 1e-12 * closed.loss and o.rank == 3, (o.loss, closed.loss)
    assert o.certificate.grad_norm <= 1e-9 and abs(o.certificate.objective - o.loss) <= 1e-12 * o.loss
    assert o.global_claim == (Global.PROVEN if loss["loss"] == "ls" else Global.BEST_FOUND), o.global_reason


@pytest.mark.slow  # two 16-restart searches, one of them at K = 10, and a full-problem multi-start
def test_small_K_at_depth_two_is_dnc_and_fig1_reaches_the_pairs():
    p = dufm.Problem(classes=4, per_class=5, width=6, depth=2, weight_decay=2**-10)
    o = optimum(p, restarts=16, hessian_limit=0)
    assert abs(o.loss - theory.dnc(p).loss) <= 1e-12 and o.rank == 3
    assert abs(o.certificate.objective - o.loss) <= 1e-12 * o.loss and o.certificate.grad_norm <= 1e-9
    best_full = full_multistart(p)  # balanced CE: the full problem finds nothing lower either
    assert o.loss - 1e-10 <= best_full <= o.loss + 1e-8, (best_full, o.loss)
    fig1 = dufm.Problem(width=10)  # Garrod & Keating Fig 1 at a width that keeps the certificate cheap
    o = optimum(fig1, restarts=16, hessian_limit=0)
    assert o.loss <= 0.0800126592451275 and o.rank == 5
    assert o.certificate.grad_norm <= 1e-9
    assert [m.loss for m in o.distinct_minima] == sorted(m.loss for m in o.distinct_minima)
    assert sum(m.count for m in o.distinct_minima) + o.unsettled == o.starts == 16 + 4  # dnc, low_rank, circle, rectified_simplex


@pytest.mark.slow  # two multi-start searches at K = 10
def test_depth_beyond_fig1_finds_a_rank_three_point_below_every_construction():
    """K = 10, L = 3: the optimum is neither DNC nor the pairs (docs/optima.md); capped at rank 2 it is the circle."""
    p = dufm.Problem(width=10, depth=3)
    o = optimum(p, restarts=16, hessian_limit=0)
    known = {k: c.loss for k, c in theory.candidates(p).items() if not isinstance(c, str)}
    assert o.rank == 3 and o.loss < 0.988 * min(known.values()), (o.loss, known)  # 1.2 % below the Petersen code
    assert o.loss < 0.96 * known["low_rank"]  # 4.8 % below the pairs
    capped = optimum(p, restarts=8, max_rank=2, hessian_limit=0)
    assert capped.rank == 2 and capped.loss == pytest.approx(theory.circle(p).loss, rel=1e-12)


@pytest.mark.slow  # an L-BFGS multi-start on a ReLU problem of its own
def test_relu_is_a_labelled_full_problem_multistart():
    p = dufm.Problem(classes=3, per_class=2, width=4, depth=2, loss="mse", activation="relu", weight_decay=0.01)
    o = optimum(p, restarts=4, steps=300)
    assert o.method == Method.FULL_MULTISTART and o.global_claim == Global.BEST_FOUND
    known = [c.loss for c in o.candidates.values() if not isinstance(c, str)]
    assert o.loss <= min(known) + 1e-12  # the constructions are starts, and L-BFGS only descends
    d = o.to_dict()
    assert d["global"] == "best found" and "certified_global" not in d and d["certificate"]["local_minimum_modulo_symmetry"] is None
    assert "global: not proven, the best found (ReLU has no reduction" in "\n".join(text.optimum_report(o))


# what each kind of problem may claim, from the command's text and JSON: proven only where a theorem makes it so
SMALLEST = ["--classes", "3", "--per-class", "2", "--width", "4", "--weight-decay", "0.01", "--restarts", "4", "--hessian-limit", "0"]
SLOW = pytest.mark.slow  # a search program of its own per shape; two kinds stay in the default set (and label smoothing's
# and focal loss's claims at L = 1 in test_depth_one_label_smoothing_and_focal_optima_are_the_one_layer_collapse)
CLAIMS = [
    pytest.param(["--depth", "1"], "proven", "L = 1: the reduced problem is convex", id="ce-L1"),
    pytest.param(["--depth", "2"], "best found", "the lowest minimum of a multi-start", id="ce-L2"),
    pytest.param(["--depth", "2", "--loss", "mse", "--per-class", "1,2,2"], "proven", "linear MSE: equal to the closed-form",
                 id="mse-L2", marks=SLOW),
    pytest.param(["--depth", "2", "--loss", "mse", "--bias", "regularised", "--bias-decay", "0.1"], "best found",
                 "the lowest minimum of a multi-start", id="mse-L2-regularised-bias", marks=SLOW),
    pytest.param(["--depth", "1", "--width", "2"], "best found", "rank Z is capped at 2 < K = 3", id="ce-L1-width-2", marks=SLOW),
    pytest.param(["--depth", "2", "--loss", "mse", "--max-rank", "1"], "best found", "rank Z is capped at 1 < K = 3",
                 id="mse-L2-max-rank-1", marks=SLOW),
    pytest.param(["--depth", "1", "--loss", "ls", "--smoothing", "0.1"], "proven", "L = 1: the reduced problem is convex",
                 id="ls-L1", marks=SLOW),
    pytest.param(["--depth", "2", "--loss", "ls", "--smoothing", "0.1"], "best found", "the lowest minimum of a multi-start",
                 id="ls-L2", marks=SLOW),
    pytest.param(["--depth", "1", "--loss", "focal", "--focal-gamma", "2"], "best found",
                 "focal loss (gamma > 0) is not convex in the logits", id="focal-L1", marks=SLOW),
    pytest.param(["--depth", "2", "--loss", "focal", "--focal-gamma", "0.5"], "best found",
                 "focal loss (gamma > 0) is not convex in the logits", id="focal-L2", marks=SLOW),
]


@pytest.mark.parametrize("args,claim,reason", CLAIMS)
def test_global_is_claimed_only_where_proven(capsys, args, claim, reason):
    argv = ["optimum", *SMALLEST, *args]  # a later flag wins
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["global"] == claim and out["global_reason"].startswith(reason) and "certified_global" not in out
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    said = [ln for ln in lines if "global" in ln.lower()]
    assert said == [f"global: {'proven' if claim == 'proven' else 'not proven, the best found'} ({out['global_reason']})"], said
    search = next(ln for ln in lines if ln.startswith("search:"))
    assert ("class-collapsed features only" in search) == ("focal" in args), search  # never "exact" where it is not


def test_a_point_that_is_not_critical_is_never_proven():
    from dufm.theory.optimum import Certificate, global_claim

    p = dufm.Problem(classes=3, per_class=2, width=4, depth=1)
    assert global_claim(p, 1.0, Certificate(1.0, 0.0, 2e-9, 1e-9), {})[0] == Global.BEST_FOUND
    assert global_claim(p, 1.0, Certificate(1.0, 0.0, 1e-10, 1e-9), {})[0] == Global.PROVEN
    mse = dufm.Problem(classes=3, per_class=2, width=4, depth=2, loss="mse", weight_decay=0.01)
    closed = {"dnc": theory.dnc(mse)}
    assert global_claim(mse, closed["dnc"].loss * (1 + 1e-9), Certificate(1.0, 0.0, 1e-10, 1e-9), closed)[0] == Global.BEST_FOUND


def test_config_and_problem_are_validated():
    with pytest.raises(ValueError, match="restarts must be an integer >= 1"):
        OptimumConfig(restarts=0)
    with pytest.raises(ValueError, match="weight decay must be > 0"):
        optimum(dufm.Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.0))
    with pytest.raises(ValueError, match="dtype must be float64"):
        optimum(dufm.Problem(classes=3, per_class=2, width=4, depth=2, dtype="float32"))


@pytest.mark.parametrize("argv,message", [
    (["--classes", "1"], "--classes: classes must be an integer >= 2, got 1"),
    (["--restarts", "0"], "--restarts: restarts must be an integer >= 1, got 0"),
    (["--weight-decay", "0"], "--weight-decay: every weight decay must be > 0 for the optimum search"),
    (["--layer-decay", "0,1e-3"], "--layer-decay: every weight decay must be > 0 for the optimum search (with a zero decay no "
                                  "optimum exists), got lambda_H = 0.0009765625, lambda_W = (0.0, 0.001)"),
    (["--weight-decay", "1e-3", "--feature-decay", "0"], "--feature-decay: every weight decay must be > 0"),
    (["--dtype", "float32", "--weight-decay", "0"], "--dtype: dtype must be float64 for the optimum search"),  # not the decay's flag
    (["--dtype", "float32"], "--dtype: dtype must be float64 for the optimum search"),
    (["--polish-tol", "-1"], "--polish-tol: polish_tol must be a finite number > 0, got -1.0"),
    (["--activation", "relu", "--max-rank", "3"], "--max-rank: max_rank must be 0 for ReLU"),
])
def test_cli_bad_input(argv, message, capsys):
    assert main(["optimum", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_the_search_compiles_once_over_tolerances_step_limits_and_decays(caplog):
    """tol, steps, counts and decays are inputs of the L-BFGS search program (like the solver's ProgramInputs): three
    searches that differ in all of them compile one program; each member's end point depends on its start alone (the
    batch reversed puts every start at another place, on another device, and gives it the same end point, bit for bit)."""
    import logging

    from dufm.theory import reduced
    from dufm.theory.optimum import random_starts, search

    # a shape (K = 5, rank 2) no other test searches, so that no earlier test in this process compiled it
    problems = [dufm.Problem(classes=5, per_class=2, width=3, depth=2, weight_decay=lam) for lam in (2e-3, 5e-3, 1e-2)]
    efforts = [(1e-6, 40), (1e-9, 200), (1e-12, 7)]
    with caplog.at_level(logging.WARNING, logger="jax"), jax.log_compiles():
        outs = []
        for p, (tol, steps) in zip(problems, efforts):
            cm = reduced.class_mean_problem(p)
            x0 = random_starts(cm, [1, 2, 1, 2, 1], seed=1, low=0.5, high=5.0)
            outs.append((cm, x0, tol, steps, search(x0, cm, 2, tol, steps)))
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling jit(lbfgs_search)")]
    assert len(compiled) == 1, compiled
    for cm, x0, tol, steps, (x, value, g, k) in outs:
        assert np.all(k <= steps) and np.all((g <= tol) | (k == steps))
        back = search(x0[::-1], cm, 2, tol, steps)
        np.testing.assert_array_equal(back[0][::-1], x)
        np.testing.assert_array_equal(back[3][::-1], k)


def test_the_matrix_free_polish_reaches_the_dense_polish(monkeypatch):
    """Above DENSE_POLISH variables the polish uses Hessian-vector products (trust-ncg, MINRES): the same minimum."""
    from dufm.theory import reduced

    p = dufm.Problem(classes=6, per_class=(2, 3, 2, 4, 2, 3), width=6, depth=3, weight_decay=0.01, bias="free")
    cm = reduced.class_mean_problem(p)
    M, b = reduced.class_means(theory.dnc(p).params, p)  # a local minimum of the reduced problem, moved off it
    x0 = reduced.smooth_point(M, b, cm, 5) + 1e-3 * np.random.default_rng(0).normal(size=cm.size(5))
    dense, g_dense = reduced.polish(x0, cm, 5)
    monkeypatch.setattr(reduced, "DENSE_POLISH", 0)
    free, g_free = reduced.polish(x0, cm, 5)
    assert g_dense <= 1e-12 and g_free <= 1e-12, (g_dense, g_free)
    f = reduced.smooth_objective
    assert abs(float(f(free, cm, 5)) - float(f(dense, cm, 5))) <= 1e-13 * abs(float(f(dense, cm, 5)))


SIZES = [  # each refused before any K x K or K x N array is made, naming the estimate and the flags to change
    (["--restarts", "100000000"], "the search is too large for this machine: about 507 GB (up to 100000016 starts"),
    (["--classes", "5000", "--width", "10"], "--max-hours: max_hours must be >= the estimated time of this search"),
    (["--classes", "100000"], "the search is too large for this machine: about 3.72e+03 GB"),
]


@pytest.mark.parametrize("args,text", SIZES, ids=[" ".join(a) for a, _ in SIZES])
def test_a_search_that_cannot_fit_is_refused_with_its_estimate(capsys, monkeypatch, args, text):
    from dufm.solving import budget

    monkeypatch.setattr(budget, "available_memory", lambda device: 16 * 10**9)  # the same answer on every machine
    code, out, err = main_status(capsys, ["optimum", *args])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert text in err, err
    assert ("--restarts" in err and "--max-rank" in err), err


def main_status(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_budget_names_memory_and_time(monkeypatch):
    from dufm.solving import budget
    from dufm.theory.optimum import check_budget, estimate

    p, cfg = dufm.Problem(classes=10, per_class=5, width=70), OptimumConfig()
    est = estimate(p, cfg, devices=2)
    # Fig 1's certificate holds the LDL^T Hessian of its 9 100 parameters: 3 P^2 float64 numbers dominate
    assert 4 * 8 * 9100**2 <= est.memory <= 1.3 * 4 * 8 * 9100**2 and est.rank == 10 and est.starts == 64 + 16
    assert estimate(p, OptimumConfig(hessian_limit=0), devices=2).memory < est.memory / 4
    assert estimate(p, OptimumConfig(steps=4000), devices=2).seconds > est.seconds
    monkeypatch.setattr(budget, "available_memory", lambda device: est.memory // 2)
    with pytest.raises(ValueError, match="the search is too large for this machine: about 3.15 GB"):
        check_budget(p, cfg)
    monkeypatch.setattr(budget, "available_memory", lambda device: None)
    with pytest.raises(ValueError, match="max_hours must be >= the estimated time"):
        check_budget(p, OptimumConfig(max_hours=1e-6))
    assert check_budget(p, cfg).memory == estimate(p, cfg).memory


def test_a_start_that_stopped_below_the_best_minimum_is_reported():
    """Too few L-BFGS steps: a start still descending below every converged one is named, never hidden behind the best."""
    p = dufm.Problem(width=10, depth=3)
    o = optimum(p, restarts=16, steps=40, hessian_limit=0)
    lows = o.lowest_unsettled
    assert o.search.below_best >= 1 and lows is not None and lows.loss < o.loss, (o.search, lows, o.loss)
    assert o.to_dict()["lowest_unsettled"]["loss"] == lows.loss and o.to_dict()["search"]["below_best"] == o.search.below_best
    assert "start(s) that did not converge ended below the best minimum" in "\n".join(text.optimum_report(o))
    full = optimum(p, restarts=16, hessian_limit=0)
    assert full.lowest_unsettled is None and full.search.below_best == 0


@pytest.mark.parametrize("K,depth", [pytest.param(5, 1, marks=SLOW), (6, 2), pytest.param(8, 3, marks=SLOW)])
def test_at_width_two_the_optimum_is_the_regular_polygon(K, depth):
    """d = 2 caps rank Z at 2: the search says so, and its best point is the regular K-gon (the circle) to 1e-12."""
    p = dufm.Problem(classes=K, per_class=5, width=2, depth=depth, weight_decay=2**-10)
    o = optimum(p, restarts=8, hessian_limit=0)
    assert (o.search.rank_cap, o.search.rank_cap_by) == (2, "width") and o.global_claim == Global.BEST_FOUND
    assert o.rank == 2 and abs(o.loss - theory.circle(p).loss) <= 1e-12 * o.loss, (o.loss, theory.circle(p).loss)


WIDTH_BELOW_K = [  # the width caps the rank below what the unconstrained optimum uses
    dict(classes=5, per_class=2, width=2, depth=2, weight_decay=0.01),
    dict(classes=6, per_class=(1, 2, 3, 2, 1, 2), width=3, depth=2, weight_decay=0.01, bias="free"),
    dict(classes=6, per_class=2, width=4, depth=3, weight_decay=0.005, loss="mse"),
]


@pytest.mark.slow  # a full-problem multi-start per case
@pytest.mark.parametrize("kw", WIDTH_BELOW_K, ids=["K5-d2", "K6-d3-imbalanced-bias", "K6-d4-mse"])
def test_no_full_problem_start_at_that_width_beats_the_capped_optimum(kw):
    p = dufm.Problem(**kw)
    o = optimum(p, restarts=16, hessian_limit=0)
    assert o.search.rank_cap == min(kw["width"], kw["classes"]) and o.search.rank_cap_by == "width"
    best_full = full_multistart(p, seeds=8)
    assert best_full >= o.loss - 1e-10, (best_full, o.loss)


def test_the_search_takes_a_step_limit_per_start_and_pads_with_idle_members():
    """search() with one limit per start: a start given 0 steps comes back unchanged, the others as in a search of their
    own; padding the batch (size) changes nothing."""
    from dufm.theory import reduced
    from dufm.theory.optimum import random_starts, search

    p = dufm.Problem(classes=5, per_class=2, width=3, depth=2, weight_decay=5e-3)
    cm = reduced.class_mean_problem(p)
    x0 = random_starts(cm, [1, 2, 2], seed=3, low=0.5, high=5.0)
    x, _, g, k = search(x0, cm, 2, 1e-9, [0, 30, 200], size=8)
    np.testing.assert_array_equal(x[0], x0[0])
    assert k[0] == 0 and k[1] == 30 and 0 < k[2] <= 200
    alone = search(x0[1:], cm, 2, 1e-9, [30, 200])
    np.testing.assert_array_equal(alone[0], x[1:])


def test_the_survey_covers_the_ranks_and_the_focus_goes_to_the_best():
    from dufm.theory.optimum import rank_buckets, survey_ranks

    assert survey_ranks(4, 6) == [1, 2, 3, 4, 1, 2]
    ranks = survey_ranks(100, 32)
    assert len(ranks) == 32 and ranks[0] == 1 and ranks[-1] == 100 and ranks == sorted(ranks)
    assert rank_buckets(10) == [10] and rank_buckets(100) == [16, 64, 100] and rank_buckets(1000) == [16, 64, 256, 1000]
    p = dufm.Problem(classes=10, per_class=5, width=10, depth=3)
    o = optimum(p, restarts=16, hessian_limit=0)
    # K = 10, L = 3: the survey's lowest point has rank 3; the focus starts at ranks 3 and 4 reach it
    assert o.focus_rank == o.rank == 3 and o.search.focus_rank == 3 and o.search.reached_best >= 4, o.search
    assert "the second half at rank 3 (the survey's best) and one above" in "\n".join(text.optimum_report(o))
