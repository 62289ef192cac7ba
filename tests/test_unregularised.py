"""The unregularised model (lambda = 0, Garrod, Keating & Thrampoulidis 2026): which problems have a finite optimum, the
loss-threshold stop rule against a step-by-step GD loop, the scale-free quantities against independent numpy
computations, no solution type where there is no optimum, diverged runs, bad input, the stored records and the figures
(float64 throughout)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import run_cli, sweep_toml, write_sweep
from scipy.stats import entropy

from dufm import plots, theory
from dufm.analysis.solution import Thresholds, analyse
from dufm.analysis.spectra import effective_rank, margins, scale_free_logits, stable_rank
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import RunRecord, load_results
from dufm.experiments.sweep import run_sweep
from dufm.model.objective import objective
from dufm.model.problem import Problem
from dufm.solving.solver import Decays, SolverConfig, Status, initial_params, run, run_many, solve

TINY = dict(classes=3, per_class=2, width=4, depth=2)


@pytest.mark.parametrize("kw, unregularised, penalised, finite", [
    (dict(weight_decay=0.0), True, False, False),
    (dict(weight_decay=0.0, loss="mse"), True, False, True),
    (dict(weight_decay=0.0, loss="mse", bias="regularised", bias_decay=0.1), False, False, True),
    (dict(weight_decay=0.0, bias="regularised", bias_decay=0.1), False, False, False),
    (dict(weight_decay=0.0, bias="free"), True, False, False),
    (dict(feature_decay=0.0, layer_decay=0.01), False, False, False),
    (dict(feature_decay=0.01, layer_decay=(0.0, 0.01)), False, False, False),
    (dict(feature_decay=0.0, layer_decay=0.01, loss="mse"), False, False, False),
    (dict(weight_decay=0.01, bias="free"), False, True, True),
    (dict(weight_decay=0.01, loss="mse", activation="relu"), False, True, True),
])
def test_which_problems_have_a_finite_optimum(kw, unregularised, penalised, finite):
    p = Problem(**{**TINY, **kw})
    assert (p.unregularised, p.penalised, p.finite_optimum) == (unregularised, penalised, finite)


# ---------------------------------------------------------------------------
# effective rank, stable rank, margins on constructed matrices


def _simplex(K, n, alpha=1.0):
    return alpha * np.kron(np.eye(K) - 1.0 / K, np.ones((1, n)))


@pytest.mark.parametrize("K", [2, 3, 8, 10])
def test_the_simplex_has_effective_and_stable_rank_k_minus_1_and_margin_one_over_sqrt_n_k_minus_1(K):
    n = 3
    Z = _simplex(K, n, alpha=2.5)
    s = np.linalg.svd(Z, compute_uv=False)
    assert effective_rank(s) == pytest.approx(K - 1, rel=1e-13)
    assert stable_rank(s) == pytest.approx(K - 1, rel=1e-13)
    m = margins(Z, (n,) * K)
    np.testing.assert_allclose(m, 2.5, rtol=1e-14)  # z_y - z_k = alpha (1 - 1/K) + alpha / K
    assert m.min() / np.linalg.norm(Z) == pytest.approx(1 / np.sqrt(n * (K - 1)), rel=1e-13)


def test_effective_and_stable_rank_against_independent_formulas(rng):
    # r equal singular values and zeros: effective rank r
    for r in (1, 2, 5):
        assert effective_rank(np.r_[np.full(r, 3.0), np.zeros(4)]) == pytest.approx(r, rel=1e-14)
    assert effective_rank([]) == 0.0 and effective_rank(np.zeros(3)) == 0.0 and stable_rank(np.zeros(3)) == 0.0
    for shape in ((6, 9), (8, 8), (12, 5)):
        X = rng.standard_normal(shape) * rng.uniform(0.1, 3.0, shape[1])
        s = np.linalg.svd(X, compute_uv=False)
        assert effective_rank(s) == pytest.approx(np.exp(entropy(s)), rel=1e-13)  # scipy normalises s to a distribution
        assert stable_rank(s) == pytest.approx(np.linalg.norm(X, "fro") ** 2 / np.linalg.norm(X, 2) ** 2, rel=1e-13)


def _margins_loop(Z, counts):
    y = np.repeat(np.arange(len(counts)), counts)
    return np.array([Z[y[i], i] - max(Z[k, i] for k in range(Z.shape[0]) if k != y[i]) for i in range(Z.shape[1])])


def test_the_ce_scale_free_logits_ignore_a_constant_added_to_every_class_logit(rng):
    p = Problem(**TINY, weight_decay=0.0)
    Z = rng.standard_normal((3, 6))
    shifted = Z + np.outer(np.ones(3), rng.standard_normal(6))
    np.testing.assert_allclose(scale_free_logits(shifted, p), scale_free_logits(Z, p), rtol=0, atol=1e-14)
    np.testing.assert_allclose(scale_free_logits(Z, p).sum(axis=0), 0, atol=1e-14)
    np.testing.assert_array_equal(scale_free_logits(Z, Problem(**TINY, weight_decay=0.0, loss="mse")), Z)
    centred = scale_free_logits(Z, Problem(**TINY, weight_decay=0.0, loss="mse", bias="free"))
    np.testing.assert_allclose(centred, Z - Z.mean(axis=1, keepdims=True), rtol=0, atol=1e-15)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_balanced_simplex_factors_have_the_closed_form_margins(L):
    """Z = a S (x) 1_n^T from balanced factors (every factor with singular values (a sqrt n)^(1/m)): margin a,
    ||Z||_F = a sqrt(n(K-1)), ||theta||^2 = m (K-1) (a sqrt n)^(2/m), so margin/||theta||^m = (m(K-1))^(-m/2) / sqrt n."""
    K, n, a, m = 4, 2, 3.7, L + 1
    U = np.linalg.qr(np.eye(K) - 1.0 / K)[0][:, : K - 1]
    Y = np.kron(np.eye(K), np.ones((1, n)))
    shape = dict(classes=K, per_class=n, width=5, depth=L)
    params = theory.balanced_factors(U, np.full(K - 1, a * np.sqrt(n)), Y.T @ U / np.sqrt(n), Problem(**shape, weight_decay=0.1))
    np.testing.assert_allclose(_forward(params, Problem(**shape)), a * np.kron(np.eye(K) - 1.0 / K, np.ones((1, n))), atol=1e-13)
    got = analyse(params, Problem(**shape, weight_decay=0.0)).scale_free
    np.testing.assert_allclose(got.singular_values[: K - 1], 1 / np.sqrt(K - 1), rtol=1e-13)
    assert got.effective_rank == pytest.approx(K - 1, rel=1e-12) and got.stable_rank == pytest.approx(K - 1, rel=1e-12)
    assert got.margin == pytest.approx(1 / np.sqrt(n * (K - 1)), rel=1e-13)
    assert got.parameter_margin == pytest.approx((m * (K - 1)) ** (-m / 2) / np.sqrt(n), rel=1e-12)
    assert got.frobenius_norm == pytest.approx(a * np.sqrt(n * (K - 1)), rel=1e-13)


def test_margins_against_a_loop_including_misclassified_samples(rng):
    counts = (2, 3, 1, 4)
    Z = rng.standard_normal((4, sum(counts)))
    want = _margins_loop(Z, counts)
    assert (want < 0).any() and (want > 0).any()
    np.testing.assert_array_equal(margins(Z, counts), want)


# ---------------------------------------------------------------------------
# the loss threshold


def _gd_losses(p: Problem, cfg: SolverConfig, seed: int, steps: int) -> np.ndarray:
    """The loss at steps 0 .. steps of plain GD, one update at a time: theta <- theta - lr grad."""
    params = jax.tree_util.tree_map(jnp.asarray, initial_params(p, [seed], cfg).member(0))
    decays, arch = Decays(*map(jnp.asarray, p.decays)), p.architecture
    vg = jax.jit(jax.value_and_grad(lambda q: objective(q, decays, arch)))
    out = []
    for _ in range(steps + 1):
        value, grad = vg(params)
        out.append(float(value))
        params = jax.tree_util.tree_map(lambda a, g: a - cfg.lr * g, params, grad)
    return np.array(out)


def test_loss_threshold_stops_at_the_first_step_whose_loss_is_below_it():
    p = Problem(**TINY, weight_decay=0.0)
    base = SolverConfig(lr=0.5, steps=400, init_scale=0.3, log_every=50)
    losses = _gd_losses(p, base, 0, 300)
    assert np.all(np.diff(losses) < 0)
    # thresholds half-way between two consecutive losses: a stop inside a chunk (137), at a chunk's first step (150),
    # at the very first step (a threshold above the initial loss), and one never reached within the step limit
    stops = [137, 150]
    thresholds = [(losses[k - 1] + losses[k]) / 2 for k in stops] + [losses[0] + 1.0, losses[-1] / 10]
    cfgs = [SolverConfig(lr=0.5, steps=300, init_scale=0.3, log_every=50, loss_threshold=t) for t in thresholds]
    runs = run_many(initial_params(p, [0] * 4, base), p.decays, p.architecture, cfgs, seeds=[0] * 4)
    for k, r in zip(stops + [0], runs):
        assert r.status == Status.LOSS_THRESHOLD and r.steps == k
        assert r.loss == pytest.approx(losses[k], rel=1e-12)
        assert r.history.step[-1] == k and r.history.loss[-1] == r.loss and len(set(r.history.step)) == len(r.history.step)
    assert runs[3].status == "max_steps" and runs[3].steps == 300 and runs[3].loss == pytest.approx(losses[300], rel=1e-12)
    # the gradient tolerance is ruled on first: with both met at the start, the run has converged
    both = solve(p, SolverConfig(lr=0.5, steps=400, init_scale=0.3, tol=1e3, loss_threshold=losses[0] + 1.0))[0]
    assert both.status == "converged" and both.steps == 0


def test_status_codes_of_the_earlier_statuses_are_unchanged():
    assert [s.code for s in Status][:5] == [0, 1, 2, 3, 4] and Status.from_code(4) is Status.LOSS_THRESHOLD
    assert Status.LOSS_THRESHOLD == "loss_threshold" and json.dumps(Status.LOSS_THRESHOLD) == '"loss_threshold"'


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), float("inf"), -float("inf"), "0.1", True])
def test_a_bad_loss_threshold_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="loss_threshold must be a finite number >= 0"):
        SolverConfig(loss_threshold=bad)


def test_run_keys_do_not_change_without_a_loss_threshold():
    assert "loss_threshold" not in SolverConfig().to_dict()
    assert SolverConfig(loss_threshold=0.0).to_dict()["loss_threshold"] == 0.0


# ---------------------------------------------------------------------------
# the default tolerance and the end points of lambda = 0 runs


def test_default_tolerance_is_zero_only_without_a_finite_optimum():
    cfg = SolverConfig()
    assert cfg.resolved("float64", finite_optimum=False).tol == 0.0 and cfg.resolved("float64").tol == 1e-10
    specs = SweepConfig.from_dict({"name": "t", "problem": dict(TINY), "grid": {"weight_decay": [0.0, 0.01], "loss": ["ce", "mse"]}}).runs()
    tol = {(s.problem.lambda_H, s.problem.loss): s.solver.tol for s in specs}
    assert tol == {(0.0, "ce"): 0.0, (0.01, "ce"): 1e-10, (0.0, "mse"): 1e-10, (0.01, "mse"): 1e-10}
    # one batch with lambda > 0 and lambda = 0 members: each gets its own default (L = 1 converges quickly at lambda > 0)
    p = Problem(**{**TINY, "depth": 1}, weight_decay=0.05)
    decays = Decays.stack([p.decays, Problem(**{**TINY, "depth": 1}, weight_decay=0.0).decays])
    runs = run_many(initial_params(p, [0, 0], cfg), decays, p.architecture, SolverConfig(steps=2000, init_scale=0.3, log_every=50))
    assert [r.status for r in runs] == ["converged", "max_steps"] and runs[0].grad_norm <= 1e-10 and runs[1].steps == 2000
    # the pure single-run program resolves it from concrete decays (constants of the jitted program here, which compiles
    # once instead of operation by operation), and refuses to guess under tracing
    zero = Problem(**TINY, weight_decay=0.0)
    start = initial_params(zero, [0], cfg).member(0)
    out = jax.jit(lambda s: run(s, zero.decays, zero.architecture, SolverConfig(steps=100)))(start)
    assert Status.from_code(out.status) == "max_steps" and int(out.steps) == 100
    with pytest.raises(ValueError, match="tol must be given"):
        jax.jit(lambda d: run(start, d, zero.architecture, SolverConfig(steps=10)).loss)(zero.decays)


def _forward(params, problem):
    """Z (no bias) by explicit numpy products: H_{l+1} = W_l sigma(H_l), sigma(H_1) = H_1."""
    F = np.asarray(params.H)
    for l, W in enumerate(params.W):
        if l > 0 and problem.activation == "relu":
            F = np.maximum(F, 0.0)
        F = np.asarray(W) @ F
    return F


# slow: the ReLU and bias variants (each a problem of its own); the bias-free linear cases run by default
@pytest.mark.parametrize("kw", [dict(), pytest.param(dict(activation="relu", depth=3, width=6), marks=pytest.mark.slow),
                                pytest.param(dict(bias="free"), marks=pytest.mark.slow), dict(feature_decay=0.0, layer_decay=0.01)])
def test_a_ce_run_without_finite_optimum_reports_scale_free_quantities_and_no_solution_type(kw):
    p = Problem(**{**TINY, "weight_decay": 0.0, **kw})
    cfg = SolverConfig(lr=0.5, steps=600, init_scale=0.3)
    r = solve(p, cfg, seeds=[1])[0]
    assert r.status == "max_steps" and r.steps == 600  # tol 0: the gradient tolerance does not stop it
    rec = RunRecord.from_run(r, p, solver=cfg.resolved(p.dtype, p.finite_optimum))
    a = rec.analysis
    assert a.solution_type is None and rec.solution_type is None and rec.summary_row()["solution_type"] is None
    n = a.scale_free
    Z = _forward(r.params, p)
    Zc = (np.eye(3) - 1 / 3) @ Z  # CE ignores the logits' constant part: the class-centred logits
    s = np.linalg.svd(Zc, compute_uv=False)
    fro = np.linalg.norm(Zc)
    logits = Z + (0.0 if r.params.b is None else np.asarray(r.params.b)[:, None])
    gamma = _margins_loop(logits, p.counts).min()
    assert gamma > 0  # every sample classified after 600 steps
    np.testing.assert_allclose(n.singular_values, s / fro, rtol=1e-12, atol=1e-15)
    assert n.frobenius_norm == pytest.approx(fro, rel=1e-12)
    assert n.effective_rank == pytest.approx(np.exp(entropy(s)), rel=1e-12)
    assert n.stable_rank == pytest.approx(fro**2 / s[0] ** 2, rel=1e-12)
    assert n.margin == pytest.approx(gamma / fro, rel=1e-11)
    if p.bias == "none":
        theta = np.concatenate([np.ravel(r.params.H)] + [np.ravel(w) for w in r.params.W])
        assert n.parameter_margin == pytest.approx(gamma / np.linalg.norm(theta) ** (p.depth + 1), rel=1e-11)
    else:
        assert n.parameter_margin is None
    if p.lambda_W[-1] == 0:  # why: GD never moves 1^T W_L (the CE gradient's columns sum to 0), so Z's constant part stays
        start = initial_params(p, [1], cfg).member(0)
        np.testing.assert_allclose(np.ones(3) @ r.params.W[-1], np.ones(3) @ start.W[-1], rtol=0, atol=1e-13)
        assert np.linalg.norm(np.ones(3) @ r.params.W[-1]) > 0.1
    # the record's JSON carries them, without a solution type, and reads back the same
    doc = json.loads(json.dumps(rec.to_dict()))
    assert doc["solution_type"] is None and set(doc["normalised"]) == {"singular_values", "effective_rank", "stable_rank",
                                                                       "margin", "parameter_margin", "frobenius_norm"}
    back = RunRecord.from_dict(doc).analysis
    assert back.solution_type is None and back.scale_free.effective_rank == n.effective_rank
    np.testing.assert_array_equal(back.scale_free.singular_values, n.singular_values)
    assert RunRecord.from_dict(doc).to_dict() == doc


def test_unregularised_mse_converges_to_z_equal_y_and_keeps_its_solution_type():
    p = Problem(**{**TINY, "depth": 1}, loss="mse", weight_decay=0.0)
    r = solve(p, SolverConfig(lr=0.5, steps=20_000, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged" and r.grad_norm <= 1e-10 and r.loss <= 1e-18
    Y = np.kron(np.eye(3), np.ones((1, 2)))
    np.testing.assert_allclose(_forward(r.params, p), Y, atol=1e-9)
    a = analyse(r.params, p)
    assert a.solution_type == "dnc"  # Z = Y: the orthogonal frame (MSE without bias)
    n = a.scale_free
    np.testing.assert_allclose(n.singular_values, 1 / np.sqrt(3), atol=1e-9)
    assert n.effective_rank == pytest.approx(3, abs=1e-8) and n.margin == pytest.approx(1 / np.sqrt(6), abs=1e-9)


def test_a_regularised_run_has_no_scale_free_quantities_and_its_record_is_unchanged():
    p = Problem(**TINY, weight_decay=0.01)
    r = solve(p, SolverConfig(lr=0.5, steps=400, init_scale=0.3))[0]
    a = analyse(r.params, p)
    assert a.scale_free is None and a.solution_type is not None and "normalised" not in a.to_dict()


def test_a_diverging_unregularised_run_is_reported_diverged_with_its_step_and_never_stored_as_a_result(tmp_path):
    p = Problem(**TINY, weight_decay=0.0)
    for r in solve(p, SolverConfig(lr=3000.0, steps=2000, init_scale=0.3, log_every=50), seeds=[2, 3]):  # the sweep's program
        assert r.status == "diverged" and r.steps == 2 and r.loss is None and r.params is None
    text = "seed = 2\n" + sweep_toml(problem={**TINY, "loss": "ce", "weight_decay": 0.0}, solver={"lr": 3000.0, "steps": 2000},
                                     grid={"depth": [2]})
    (tmp_path / "d.toml").write_text(text)
    out = run_sweep(SweepConfig.from_toml(tmp_path / "d.toml"), out=tmp_path / "out")
    assert out.status == {"converged": 0, "max_steps": 0, "diverged": 2}
    res = load_results(tmp_path / "out")
    assert res.results() == [] and sorted(r.seed for r in res.diverged) == [2, 3]
    for rec in res.diverged:
        doc = json.loads((tmp_path / "out" / "runs" / f"{rec.key}.json").read_text())
        assert doc["diverged_at_step"] == rec.steps == 2 and "normalised" not in doc and "solution_type" not in doc
        assert "H" not in res.arrays(rec)


def test_a_step_to_exactly_zero_loss_is_a_floating_point_fixed_point_and_stops_as_converged():
    """At lambda = 0 one huge step can make every margin so large that CE underflows to exactly 0 in float64, and so
    does its gradient: GD cannot move any more, and tol = 0 reports the run converged there (docs/implicit_bias.md)."""
    p = Problem(**TINY, weight_decay=0.0)
    r = solve(p, SolverConfig(lr=3000.0, steps=400, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged" and r.steps == 1 and r.loss == 0.0 and r.grad_norm == 0.0
    n = analyse(r.params, p).scale_free
    assert n.margin > 0 and n.margin * n.frobenius_norm > 36  # every margin beyond float64's exp(-margin) underflow


def test_a_sweep_counts_runs_that_reached_the_loss_threshold(tmp_path):
    cfg = SweepConfig.from_toml(write_sweep(tmp_path, problem={**TINY, "loss": "ce", "weight_decay": 0.0},
                                  solver={"lr": 0.5, "steps": 2000, "loss_threshold": 0.05}, grid={"depth": [1, 2]}))
    out = run_sweep(cfg, out=tmp_path / "out")
    assert out.status == {"converged": 0, "max_steps": 0, "diverged": 0, "loss_threshold": 4}
    for rec in load_results(tmp_path / "out").records:
        assert rec.status == "loss_threshold" and rec.loss <= 0.05 < rec.history.loss[-2]
        assert rec.solver.loss_threshold == 0.05 and rec.analysis.scale_free is not None


# ---------------------------------------------------------------------------
# the command line

SOLVE = ["solve", "--classes", "3", "--per-class", "2", "--width", "4", "--depth", "2", "--weight-decay", "0",
         "--init-scale", "0.3", "--steps", "400"]


def test_cli_reports_no_closed_form_and_no_solution_type_at_lambda_zero(capsys):
    code, out, err = run_cli(capsys, SOLVE + ["--json"])
    assert code == 0
    doc = json.loads(out)
    run = doc["runs"][0]
    assert doc["theory"] == {} and doc["solver"]["tol"] == 0.0 and "loss_threshold" not in doc["solver"]
    assert run["status"] == "max_steps" and run["solution_type"] is None and run["normalised"]["effective_rank"] > 0
    code, out, _ = run_cli(capsys, SOLVE + ["--loss-threshold", "0.01"])
    assert code == 0
    assert "closed forms: none (unregularised" in out and "solution type:" not in out and "loss - closed form" not in out
    assert "reached the loss threshold (loss <= 0.01)" in out and "effective rank" in out and "margin / ||Z_c||_F" in out
    code, out, _ = run_cli(capsys, SOLVE)  # the text of a run without a loss threshold
    assert code == 0 and "hit the step limit after 400 steps" in out and "rank Z_c = " in out and "(NC: 2)" in out
    code, out, _ = run_cli(capsys, SOLVE + ["--loss", "mse", "--depth", "1", "--steps", "20000"])
    assert code == 0 and "closed forms: none (unregularised MSE" in out and "converged (|grad| <= 1e-10)" in out
    assert "solution type: dnc" in out and "loss - closed form" not in out and "effective rank 3.0000 (NC: 3)" in out


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_cli_bad_loss_threshold_is_exit_2_and_one_line(capsys, value):
    code, out, err = run_cli(capsys, SOLVE + [f"--loss-threshold={value}"])
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert "--loss-threshold" in lines[0] and "loss_threshold must be a finite number >= 0" in lines[0]


def test_cli_sweep_config_with_a_bad_loss_threshold_is_exit_2_and_one_line(capsys, tmp_path):
    path = write_sweep(tmp_path, solver={"loss_threshold": -0.5})
    code, out, err = run_cli(capsys, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "loss_threshold" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# figures of unregularised sweeps


@pytest.fixture(scope="module")
def zero(tmp_path_factory):
    root = tmp_path_factory.mktemp("zero")
    cfg = dict(name="zero", seeds=2, problem=dict(classes=4, per_class=2, width=5, loss="ce", weight_decay=0.0),
               solver=dict(steps=300, log_every=100, init_scale=0.3),
               grid=[{"depth": [1, 2, 3], "lr": 0.5}, {"depth": 2, "lr": 300.0}])  # lr 300 diverges
    out = run_sweep(SweepConfig.from_toml(write_sweep(root, "z.toml", **cfg)), out=root / "out")
    assert out.status["diverged"] == 2
    return load_results(root / "out")


def _drawn(fig) -> dict:
    ax = fig.axes[0]
    line = ax.containers[0].lines[0] if ax.containers else ax.lines[0]
    return {int(x): y for x, y in line.get_xydata()}


def test_p_dnc_refuses_runs_without_a_solution_type(zero):
    with pytest.raises(ValueError, match=r"p_dnc_vs_depth counts runs by solution type, and 6 runs of .* have none .*"
                                         r"draw effective_rank_vs_depth or p_full_rank_vs_depth instead"):
        plots.figure(zero, "p_dnc_vs_depth", {})
    names = plots.default_figures(zero)
    assert names[-3:] == ["rank_vs_depth", "effective_rank_vs_depth", "p_full_rank_vs_depth"] and not any("p_dnc" in n for n in names)
    figs = plots.figures(zero)  # the run figures label runs without a type by their effective rank
    assert "eff. rank" in figs["singular_values"].legends[0].get_texts()[0].get_text()


def test_effective_rank_and_full_rank_figures_draw_the_stored_spectra(zero):
    groups = {}
    for rec in zero.results():
        Z = _forward(zero.params(rec), rec.problem)
        groups.setdefault(rec.problem.depth, []).append(np.linalg.svd(Z - Z.mean(axis=0), compute_uv=False))
    assert sorted(groups) == [1, 2, 3] and all(len(g) == 2 for g in groups.values())
    assert any(np.sum(s > Thresholds().rank_tol * s[0]) < 3 for g in groups.values() for s in g)  # some lose a mode
    drawn = _drawn(plots.figure(zero, "effective_rank_vs_depth", {}))
    want = {L: np.mean([np.exp(entropy(s)) for s in g]) for L, g in groups.items()}
    assert drawn.keys() == want.keys() and all(drawn[L] == pytest.approx(want[L], rel=1e-12) for L in want)
    tol = Thresholds().rank_tol
    drawn = _drawn(plots.figure(zero, "p_full_rank_vs_depth", {}))
    want = {L: np.mean([np.sum(s > tol * s[0]) >= 3 for s in g]) for L, g in groups.items()}
    assert drawn == pytest.approx(want, abs=1e-15)
