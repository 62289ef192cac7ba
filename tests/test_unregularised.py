"""The unregularised model (lambda = 0, Garrod, Keating & Thrampoulidis 2026): which problems have a finite optimum, the
loss-threshold stop rule against a step-by-step GD loop, and the default tolerance (float64 throughout)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dufm.objective import objective
from dufm.problem import Problem
from dufm.solve import Decays, SolverConfig, Status, initial_params, run, run_many, solve
from dufm.sweep import expand

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
    both = solve(p, SolverConfig(lr=0.5, steps=300, init_scale=0.3, tol=1e3, loss_threshold=losses[0] + 1.0))[0]
    assert both.status == "converged" and both.steps == 0


def test_status_codes_of_the_earlier_statuses_are_unchanged():
    assert [s.code for s in Status] == [0, 1, 2, 3, 4] and Status.from_code(4) is Status.LOSS_THRESHOLD
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
    specs = expand({"name": "t", "problem": dict(TINY), "grid": {"weight_decay": [0.0, 0.01], "loss": ["ce", "mse"]}})
    tol = {(s.problem.lambda_H, s.problem.loss): s.solver.tol for s in specs}
    assert tol == {(0.0, "ce"): 0.0, (0.01, "ce"): 1e-10, (0.0, "mse"): 1e-10, (0.01, "mse"): 1e-10}
    # one batch with lambda > 0 and lambda = 0 members: each gets its own default (L = 1 converges quickly at lambda > 0)
    p = Problem(**{**TINY, "depth": 1}, weight_decay=0.05)
    decays = Decays.stack([p.decays, Problem(**{**TINY, "depth": 1}, weight_decay=0.0).decays])
    runs = run_many(initial_params(p, [0, 0], cfg), decays, p.architecture, SolverConfig(steps=3000, init_scale=0.3))
    assert [r.status for r in runs] == ["converged", "max_steps"] and runs[0].grad_norm <= 1e-10 and runs[1].steps == 3000
    # the pure single-run program resolves it from concrete decays, and refuses to guess under tracing
    zero = Problem(**TINY, weight_decay=0.0)
    start = initial_params(zero, [0], cfg).member(0)
    out = run(start, zero.decays, zero.architecture, SolverConfig(steps=100))
    assert Status.from_code(out.status) == "max_steps" and int(out.steps) == 100
    with pytest.raises(ValueError, match="tol must be given"):
        jax.jit(lambda d: run(start, d, zero.architecture, SolverConfig(steps=10)).loss)(zero.decays)
