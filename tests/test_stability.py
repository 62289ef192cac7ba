"""Descent that does not diverge, the sharpness along training, and the balanced initialisation for depth (float64)."""

import jax
import numpy as np
import pytest
from helpers import run_cli, write_sweep

import dufm
from dufm import SolverConfig
from dufm.landscape.hessian import hessian_matrix
from dufm.model.objective import forward

SMALL = dict(classes=4, per_class=2, width=6, depth=3, loss="mse", weight_decay=1e-3)


def test_backtracking_descends_where_a_fixed_step_diverges():
    """Armijo backtracking from a step of 10^6: the loss never rises and the run ends at GD's end point; the fixed step
    diverges (and reports its step)."""
    p = dufm.Problem(**SMALL)
    fixed = dufm.solve(p, SolverConfig(lr=1e6, steps=1000, init_scale=0.3), seeds=[0])[0]
    assert fixed.status == "diverged" and fixed.steps >= 0
    adaptive = dufm.solve(p, SolverConfig(optimizer="backtracking", lr=1e6, steps=20_000, log_every=10, init_scale=0.3), seeds=[0])[0]
    assert adaptive.status in ("converged", "max_steps") and np.all(np.diff(adaptive.history.loss) <= 0)
    gd = dufm.solve(p, SolverConfig(lr=0.05, steps=400_000, init_scale=0.3), seeds=[0])[0]
    assert adaptive.loss == pytest.approx(gd.loss, rel=1e-6)


# the flow's case compiles the flow with the sharpness record, a program of its own: slow
@pytest.mark.parametrize("optimizer, lr", [("gd", 0.1), pytest.param("flow", 0.1, marks=pytest.mark.slow)])
def test_the_recorded_sharpness_is_the_dense_hessians_top_eigenvalue(optimizer, lr):
    """At every recorded point, to 1e-6 relative (Lanczos, 20 products, warm-started)."""
    p = dufm.Problem(**SMALL)
    cfg = SolverConfig(optimizer=optimizer, lr=lr, steps=3000, log_every=500 if optimizer == "gd" else 20, init_scale=0.3,
                       sharpness=True, spectra="none")
    from dufm.solving.solver import initial_params, run_many

    start = initial_params(p, [0], cfg)
    run = run_many(start, p.decays, p.architecture, cfg)[0]
    assert len(run.history.sharpness) == len(run.history.step) >= 3
    # the recorded points: replay the run to each recorded step (its step count is a program input: one program)
    for i, step in enumerate(run.history.step):
        if step == 0:
            point = start.member(0)
        else:
            point = run_many(start, p.decays, p.architecture, SolverConfig(**{**cfg.to_dict(), "steps": int(step), "sharpness": False,
                                                                               "tol": 0.0}))[0].params
        top = np.linalg.eigvalsh(hessian_matrix(point, p.decays, p.architecture))[-1]
        assert run.history.sharpness[i] == pytest.approx(top, rel=1e-6), (step, run.history.sharpness[i], top)


@pytest.mark.parametrize("scale", [0.0, 1e-6])
@pytest.mark.parametrize("decays", [dict(weight_decay=0.01), dict(feature_decay=0.02, layer_decay=(0.01, 0.03, 0.01))],
                         ids=["one-decay", "three-decays"])
def test_the_sharpness_survives_a_lanczos_breakdown(scale, decays):
    """At (and near) the zero point of a deep model the Hessian is (nearly) diag(lambda): its Krylov space is exhausted
    after a few products. The sharpness is still the dense Hessian's top eigenvalue, to 1e-12 relative, and its Ritz
    vector a unit vector (at the zero point this once gave 1.439 for lambda = 0.01, and NaN at L = 32 from PyTorch's init)."""
    from jax.flatten_util import ravel_pytree

    from dufm.solving.history import first_direction, sharpness

    p = dufm.Problem(**{**{k: v for k, v in SMALL.items() if k != "weight_decay"}, "loss": "ce", **decays})
    point = jax.tree_util.tree_map(lambda x: scale * x, dufm.initialise(jax.random.PRNGKey(0), p.architecture, 1.0))
    top, ritz = sharpness(point, first_direction(point), p.decays, p.architecture)
    want = np.linalg.eigvalsh(hessian_matrix(point, p.decays, p.architecture))[-1]
    assert abs(float(top) - want) <= 1e-12 * want, (float(top), want)
    assert abs(float(np.linalg.norm(ritz)) - 1.0) <= 1e-12 and ritz.shape == ravel_pytree(point)[0].shape
    # started from an exact eigenvector of the top eigenvalue (what a warm start becomes once the runs settle), the Krylov
    # space is exhausted at the first product: the record is that eigenvalue, not NaN
    top_block = int(np.argmax([0.02, 0.01, 0.03, 0.01])) if "layer_decay" in decays else 0
    offset = sum(x.size for x in jax.tree_util.tree_leaves(point)[:top_block])
    e = np.zeros(ritz.shape)
    e[offset] = 1.0
    if scale == 0.0:
        again, vector = sharpness(point, e, p.decays, p.architecture)
        assert abs(float(again) - want) <= 1e-12 * want and abs(float(np.linalg.norm(vector)) - 1.0) <= 1e-12


def test_sharpness_changes_nothing_else_of_the_run():
    p = dufm.Problem(**SMALL)
    base = dict(lr=0.1, steps=3000, log_every=500, init_scale=0.3)
    a = dufm.solve(p, SolverConfig(**base), seeds=[0])[0]
    b = dufm.solve(p, SolverConfig(**base, sharpness=True), seeds=[0])[0]
    assert a.history.sharpness is None and b.history.sharpness is not None
    assert (a.steps, a.loss) == (b.steps, b.loss)
    np.testing.assert_array_equal(a.history.loss, b.history.loss)
    assert "sharpness" not in SolverConfig(**base).to_dict()  # a run's key is unchanged when it records none


def test_the_text_compares_the_sharpness_with_two_over_lr(capsys):
    argv = ["solve", "--classes", "4", "--per-class", "2", "--width", "6", "--depth", "3", "--loss", "mse", "--weight-decay", "1e-3",
            "--init-scale", "0.3", "--steps", "3000", "--log-every", "500", "--sharpness"]
    code, out, err = run_cli(capsys, argv + ["--lr", "0.1"])
    assert code == 0 and "sharpness (largest Hessian eigenvalue)" in out and "2/lr = 20: below it at every record" in out
    # heavy ball's limit on a quadratic of curvature h: lr h < 2 (1 + momentum)
    code, out, err = run_cli(capsys, argv + ["--lr", "0.1", "--optimizer", "momentum", "--momentum", "0.5"])
    assert code == 0 and "2(1+momentum)/lr = 30: below it at every record" in out, out


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_sharpness_with_a_preconditioned_optimizer_is_refused_naming_the_flag(capsys, optimizer):
    with pytest.raises(ValueError, match=f"sharpness must be off with optimizer '{optimizer}', whose steps are preconditioned"):
        SolverConfig(optimizer=optimizer, sharpness=True)
    code, out, err = run_cli(capsys, ["solve", "--optimizer", optimizer, "--sharpness"])
    assert code == 2 and err.count("\n") == 1 and "--sharpness: sharpness must be off with optimizer" in err, err


@pytest.mark.parametrize("depth", [1, 8, pytest.param(64, marks=pytest.mark.slow)])
def test_the_balanced_init_has_the_same_gain_at_every_depth(depth):
    """Every singular value of Z = W_L ... W_1 H_1 is s_H s_W^L, whatever L; the factors have equal norms."""
    p = dufm.Problem(classes=10, per_class=5, width=30, depth=depth)
    x = dufm.initialise(jax.random.PRNGKey(depth), p.architecture, (2.0, 0.9), "balanced")
    Z, _ = forward(x, p.architecture)
    np.testing.assert_allclose(np.linalg.svd(np.asarray(Z), compute_uv=False), 2.0 * 0.9**depth, rtol=1e-12)
    norms = [np.linalg.norm(np.asarray(w)) for w in (x.H, *x.W[:-1])]
    np.testing.assert_allclose(norms, norms[0], rtol=1e-12)
    assert dufm.SolverConfig(init="balanced").init_scales() == (1.0, 1.0)


def test_a_sweep_halves_the_step_of_a_diverging_run_and_records_it(tmp_path):
    from dufm import SweepConfig, load_results, run_sweep

    path = write_sweep(tmp_path, solver={"lr": 300.0, "steps": 400}, grid={"weight_decay": [0.002]})
    stopped = run_sweep(SweepConfig.from_toml(path), out=tmp_path / "stop")
    assert stopped.status["diverged"] == 2
    halve = SweepConfig.from_toml(path, on_divergence="halve")
    assert halve.runs() == SweepConfig.from_toml(path).runs()  # the same runs, the same keys
    assert run_sweep(halve, out=tmp_path / "halve").status["diverged"] == 0
    for rec in load_results(tmp_path / "halve").records:
        assert rec.halvings >= 1 and rec.lr_used == 300.0 / 2**rec.halvings and rec.solver.lr == 300.0
        doc = rec.to_dict()
        assert doc["lr_used"] == rec.lr_used and doc["halvings"] == rec.halvings
        # and the run is the one its step gives when run directly
        direct = dufm.solve(rec.problem, SolverConfig(**{**rec.solver.to_dict(), "lr": rec.lr_used}), seeds=[rec.seed])[0]
        assert direct.loss == rec.loss and direct.steps == rec.steps


def test_bad_divergence_settings_name_the_key(tmp_path):
    from dufm import SweepConfig

    with pytest.raises(ValueError, match="on_divergence must be one of stop, halve; got 'retry'"):
        SweepConfig.from_dict({"name": "x", "on_divergence": "retry"})
    with pytest.raises(ValueError, match="max_halvings must be an integer >= 1"):
        SweepConfig.from_dict({"name": "x", "max_halvings": 0})


def test_the_sharpness_figure_draws_the_records_and_the_stability_limit(tmp_path):
    from dufm import SweepConfig, load_results, run_sweep
    from dufm.plots import figures

    path = write_sweep(tmp_path, solver={"steps": 400, "log_every": 100, "sharpness": True})
    run_sweep(SweepConfig.from_toml(path), out=tmp_path / "out")
    results = load_results(tmp_path / "out")
    from dufm.plots.sweeps import default_figures

    assert "sharpness_curves" in default_figures(results)
    ax = figures(results, ["sharpness_curves"])["sharpness_curves"].axes[0]
    curves = [line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) > 2]
    assert len(curves) == len(results.records)
    for rec in results.records:
        assert any(np.array_equal(c, rec.history.sharpness) for c in curves)
    limits = {float(line.get_ydata()[0]) for line in ax.get_lines() if len(line.get_ydata()) == 2}
    assert limits == {2 / results.records[0].solver.lr}  # GD's edge of stability, once
    without = write_sweep(tmp_path, "plain.toml", solver={"steps": 400, "log_every": 100})
    run_sweep(SweepConfig.from_toml(without), out=tmp_path / "plain")
    with pytest.raises(ValueError, match="sharpness_curves draws runs that recorded the sharpness"):
        figures(load_results(tmp_path / "plain"), ["sharpness_curves"])
