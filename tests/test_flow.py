"""Gradient flow as a solver (optimizer = "flow"): against its closed form along the trajectory, its stop rules, batching
and compilation, bad input, and the store (float64)."""

import json
import logging

import jax
import numpy as np
import pytest
from helpers import run_cli, write_sweep

import dufm
from dufm import Params, SolverConfig
from dufm.model.objective import forward

SMALL = dict(classes=4, per_class=2, width=6, depth=3, loss="mse", weight_decay=1e-3)
FLOW = dict(optimizer="flow", lr=0.1, steps=2000, log_every=10, init_scale=0.3)


def test_the_flow_follows_its_closed_form_along_the_trajectory():
    """Linear MSE, L = 1, balanced and aligned start H = a Y / sqrt(n), W = a I: the flow keeps that form, and
    u = a^2 solves u' = 2u(c - u/N) with c = 1/(K sqrt(n)) - lambda: u(t) = cN / (1 + (cN/u0 - 1) e^(-2ct)) (the
    logistic law of Saxe et al. 2014 for one mode). The loss of every recorded point equals
    1/2 (u/sqrt(n) - 1)^2 + lambda K u at its flow time, to the integrator's tolerance."""
    K, n, lam, a0 = 3, 2, 0.01, 0.2
    p = dufm.Problem(classes=K, per_class=n, width=K, depth=1, loss="mse", weight_decay=lam)
    Y = np.repeat(np.eye(K), n, axis=1)
    start = Params(a0 * Y / np.sqrt(n), (a0 * np.eye(K),))
    cfg = SolverConfig(optimizer="flow", lr=1e-3, rtol=1e-9, atol=1e-12, steps=5000, log_every=1)
    run = dufm.run_many(Params.stack([start]), p.decays, p.architecture, cfg)[0]
    assert run.status == "converged" and run.rejected is not None and run.time > 10
    N, t = K * n, run.history.time
    c = 1 / (K * np.sqrt(n)) - lam
    u = c * N / (1 + (c * N / a0**2 - 1) * np.exp(-2 * c * t))
    closed = 0.5 * (u / np.sqrt(n) - 1) ** 2 + lam * K * u
    assert len(t) == run.steps + 1 and t[0] == 0 and np.all(np.diff(t) > 0)
    np.testing.assert_allclose(run.history.loss, closed, rtol=1e-7)  # rtol 1e-9 per step, accumulated over the trajectory
    np.testing.assert_allclose(run.params.H, np.sqrt(u[-1]) * Y / np.sqrt(n), atol=1e-9)
    np.testing.assert_allclose(run.params.W[0], np.sqrt(u[-1]) * np.eye(K), atol=1e-9)


def test_a_batch_equals_its_runs_alone_and_compiles_once(caplog):
    """Seeds, decays and every number of the flow (first step, tolerances, limits) are inputs of one compiled program;
    each member's run is the same as alone, bit for bit."""
    p = dufm.Problem(**SMALL)
    seeds = [0, 1, 2]
    cfgs = [SolverConfig(**{**FLOW, "rtol": r, "atol": a, "lr": lr}) for r, a, lr in ((1e-6, 1e-9, 0.1), (1e-7, 1e-10, 0.05),
                                                                                        (1e-6, 1e-8, 0.2))]
    from dufm.solving.solver import initial_params, run_many

    params0 = initial_params(p, seeds, cfgs[0])
    decays = dufm.Decays.stack([p.decays, p.decays, dufm.Problem(**{**SMALL, "weight_decay": 2e-3}).decays])
    with caplog.at_level(logging.WARNING, logger="jax"), jax.log_compiles():
        batch = run_many(params0, decays, p.architecture, cfgs, seeds=seeds)
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling jit(solver)")]
    assert len(compiled) == 1, compiled
    assert all(r.status == "converged" for r in batch)
    for i, r in enumerate(batch):
        alone = run_many(Params.stack([params0.member(i)]), dufm.Decays(*(a[i] for a in decays)), p.architecture, cfgs[i],
                         seeds=[seeds[i]])[0]
        assert (alone.steps, alone.rejected, alone.time, alone.loss) == (r.steps, r.rejected, r.time, r.loss)
        for a, b in zip(jax.tree_util.tree_leaves(alone.params), jax.tree_util.tree_leaves(r.params)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(alone.history.time, r.history.time)


def test_the_end_point_is_gradient_descents_and_does_not_depend_on_the_tolerances():
    """The flow ends where GD with a small step ends, from the same start (loss to 1e-12, the same parameters to 1e-6),
    at every tolerance."""
    p = dufm.Problem(**SMALL)
    gd = dufm.solve(p, SolverConfig(lr=0.05, steps=400_000, init_scale=0.3), seeds=[0])[0]
    assert gd.status == "converged"
    for rtol, atol in ((1e-5, 1e-8), (1e-6, 1e-9), (1e-8, 1e-11)):
        run = dufm.solve(p, SolverConfig(**{**FLOW, "rtol": rtol, "atol": atol}), seeds=[0])[0]
        assert run.status == "converged" and run.steps < 1000  # GD: 300 000 steps and more
        assert run.loss == pytest.approx(gd.loss, rel=1e-12, abs=0)
        a, b = dufm.analyse(run.params, p), dufm.analyse(gd.params, p)
        assert a.solution_type == b.solution_type and a.rank == b.rank


@pytest.mark.slow  # GD on Fig 1 to |grad| <= 1e-10 (conftest.fig1_seed0) and the flow on its 4 270 parameters
def test_at_fig1_the_flow_ends_where_gd_ends_from_the_same_start(fig1_seed0):
    """Garrod & Keating's Fig 1, seed 0, init std 0.1: GD with lr 0.5 ends at the low-rank critical point (conftest); the
    flow from the same start ends in the same basin (the same solution type and rank), its loss equal to 1e-10, with
    the same logits Z and singular values of every layer (to 1e-6 of their scale; the parameters themselves are
    defined up to a rotation of the hidden space, which the two paths need not share)."""
    p, _, gd = fig1_seed0
    run = dufm.solve(p, SolverConfig(optimizer="flow", lr=0.1, steps=5000, tol=1e-10, init_scale=0.1), seeds=[0])[0]
    assert gd.status == "converged" and run.status == "converged" and run.grad_norm <= 1e-10
    assert run.loss == pytest.approx(gd.loss, rel=1e-10, abs=0)
    a, b = dufm.analyse(run.params, p), dufm.analyse(gd.params, p)
    assert a.solution_type == b.solution_type and a.rank == b.rank
    for name, sv in b.singular_values.items():
        np.testing.assert_allclose(a.singular_values[name], sv, atol=1e-6 * sv.max(), err_msg=name)
    Z, Z_gd = (np.asarray(forward(jax.tree_util.tree_map(np.asarray, r.params), p.architecture)[0]) for r in (run, gd))
    np.testing.assert_allclose(Z, Z_gd, atol=1e-6 * np.abs(Z_gd).max())


def test_a_first_step_far_too_long_is_rejected_and_shrunk_never_diverged():
    p = dufm.Problem(**SMALL)
    run = dufm.solve(p, SolverConfig(**{**FLOW, "lr": 1e6}), seeds=[0])[0]
    assert run.status == "converged" and run.rejected >= 1
    gd = dufm.solve(p, SolverConfig(lr=1e6, steps=100, init_scale=0.3), seeds=[0])[0]
    assert gd.status == "diverged"  # the same first step diverges as a fixed GD step


def test_the_flow_stops_by_the_solvers_rules():
    p = dufm.Problem(**SMALL)
    cfgs = [SolverConfig(**{**FLOW, "max_time": 3.0}), SolverConfig(**{**FLOW, "loss_threshold": 0.2}),
            SolverConfig(**{**FLOW, "steps": 5})]
    from dufm.solving.solver import initial_params, run_many

    timed, reached, limited = run_many(initial_params(p, [0, 0, 0], cfgs[0]), p.decays, p.architecture, cfgs)
    assert timed.status == "max_time" and timed.time == 3.0 and timed.history.time[-1] == 3.0
    assert reached.status == "loss_threshold" and reached.loss <= 0.2 and reached.history.loss[-2] > 0.2
    assert limited.status == "max_steps" and limited.steps == 5 and list(limited.history.step) == [0, 5]


@pytest.mark.parametrize("change, message", [
    (dict(rtol=0.0), "rtol must be a finite number > 0"),
    (dict(atol=-1e-9), "atol must be a finite number > 0"),
    (dict(max_time=0.0), "max_time must be a finite number > 0"),
    (dict(momentum=0.5), "momentum must be left at its default with optimizer 'flow'"),
])
def test_bad_flow_settings_are_a_value_error_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        SolverConfig(optimizer="flow", **change)


def test_flow_settings_with_another_optimizer_are_refused():
    for name, value in (("rtol", 1e-3), ("atol", 1e-3), ("max_time", 10.0)):
        with pytest.raises(ValueError, match=f"{name} is used by optimizer 'flow' only"):
            SolverConfig(optimizer="gd", **{name: value})
    assert "rtol" not in SolverConfig().to_dict()  # a run's key is that of before the flow's fields existed
    assert SolverConfig(optimizer="flow", rtol=1e-7).to_dict()["rtol"] == 1e-7


@pytest.mark.parametrize("argv, flag", [
    (["--rtol", "0"], "--rtol: rtol must be a finite number > 0"),
    (["--atol", "-1"], "--atol: atol must be a finite number > 0"),
    (["--momentum", "0.5"], "--momentum: momentum must be left at its default with optimizer 'flow'"),
])
def test_the_cli_names_the_flag(capsys, argv, flag):
    code, out, err = run_cli(capsys, ["solve", "--optimizer", "flow", *argv])
    assert code == 2 and err.count("\n") == 1 and flag in err, err


def test_cli_json_and_text_report_the_flow(capsys):
    argv = ["solve", "--optimizer", "flow", "--classes", "4", "--per-class", "2", "--width", "6", "--depth", "3", "--loss", "mse",
            "--weight-decay", "1e-3", "--init-scale", "0.3", "--lr", "0.1", "--log-every", "10"]
    code, out, err = run_cli(capsys, argv + ["--json"])
    assert code == 0, err
    run = json.loads(out)["runs"][0]
    assert run["status"] == "converged" and run["flow_time"] > 0 and run["rejected_steps"] >= 0
    assert len(run["history"]["time"]) == len(run["history"]["step"])
    code, out, err = run_cli(capsys, argv)
    assert code == 0 and "gradient flow (Kvaerno5, rtol=1e-06 atol=1e-09" in out and "accepted steps (" in out and "flow time" in out


def test_a_sweep_stores_the_flow_and_resumes(tmp_path):
    from dufm import SweepConfig, load_results, run_sweep

    config = SweepConfig.from_toml(write_sweep(tmp_path, solver={"optimizer": "flow", "lr": 0.1, "steps": 300, "log_every": 10},
                                               grid={"weight_decay": [0.002, 0.004]}))
    assert run_sweep(config, out=tmp_path / "out").ran == 4
    res = load_results(tmp_path / "out")
    assert len(res) == 4 and all(r.time is not None and r.history.time is not None for r in res.records)
    assert all("history_time" in res.arrays(r) for r in res.records)
    assert run_sweep(config, out=tmp_path / "out").ran == 0
