"""Solvers against closed forms, batching exactness, stop reasons (float64)."""

import jax
import numpy as np
import pytest
from helpers import SMALL

import dufm
from dufm import theory
from dufm.analysis.solution import analyse
from dufm.solving.solver import Decays, SolverConfig, initial_params, run, run_many, solve


@pytest.mark.parametrize("loss,opt", [("ce", "gd"), ("mse", "gd"), ("ce", "lbfgs"), pytest.param("mse", "lbfgs", marks=pytest.mark.slow)],
                         ids=["gd-ce", "gd-mse", "lbfgs-ce", "lbfgs-mse"])  # slow: a variant that compiles a program of its own
def test_classical_ufm_reaches_closed_form(loss, opt):
    """L = 1: Zhu et al. (CE) and the MSE optimum, from random initialisation."""
    p = dufm.Problem(depth=1, weight_decay=5e-3, loss=loss, **SMALL)
    want = theory.dnc(p).loss
    run = solve(p, SolverConfig(optimizer=opt, lr=0.5, steps=50_000, tol=1e-10, init_scale=0.3), seeds=[0])[0]
    assert run.status == "converged" and run.grad_norm <= 1e-9
    assert abs(run.loss - want) <= 1e-9 * want
    a = analyse(run.params, p)
    assert a.solution_type == "dnc"
    assert all(m.nc1 <= 1e-10 for m in a.nc.values())


@pytest.mark.parametrize("L", [2, pytest.param(3, marks=pytest.mark.slow), pytest.param(4, marks=pytest.mark.slow)])  # slow: deeper variants
def test_deep_linear_mse_reaches_dnc(L):
    p = dufm.Problem(depth=L, weight_decay=2e-3, loss="mse", **SMALL)
    want = theory.dnc(p).loss
    run = solve(p, SolverConfig(lr=0.5, steps=50_000, tol=1e-10, init_scale=0.3), seeds=[0])[0]
    assert run.status == "converged"
    assert abs(run.loss - want) <= 1e-9 * want
    assert analyse(run.params, p).solution_type == "dnc"


@pytest.mark.slow  # GD to |grad| <= 1e-10 on Fig 1: 49 000 steps (conftest.fig1_seed0, solved once per session)
def test_fig1_low_rank_end_point(fig1_seed0):
    """Garrod & Keating Fig 1: seed 0, GD lr 0.5, init std 0.1 ends at the low-rank solution (|grad| <= 1e-10, the
    default tolerance; conftest.fig1_seed0)."""
    p, _, run = fig1_seed0
    assert SolverConfig().resolved(p.dtype).tol == 1e-10
    assert run.status == "converged" and run.steps < 100_000
    assert round(run.loss, 6) == 0.080013
    assert abs(run.loss - theory.low_rank(p).loss) <= 1e-12
    a = analyse(run.params, p)
    assert a.rank["Z"] == 5 and a.solution_type == "low-rank"


@pytest.mark.slow  # width 300: 40 s of GD
def test_fig1_wider_smaller_init_ends_at_dnc():
    """Same problem, width 300 and init std 0.07: GD ends at DNC (loss 0.090662, rank Z = 9)."""
    p = dufm.Problem(classes=10, per_class=5, width=300, depth=2, weight_decay=2**-10)
    run = solve(p, SolverConfig(lr=0.5, steps=60_000, init_scale=0.07), seeds=[0])[0]
    assert run.status == "converged"
    assert round(run.loss, 6) == 0.090662 and abs(run.loss - theory.dnc(p).loss) <= 1e-12
    a = analyse(run.params, p)
    assert a.rank["Z"] == 9 and a.solution_type == "dnc"


def test_seed_batch_equals_runs_alone():
    p = dufm.Problem(depth=2, weight_decay=2e-3, loss="mse", **SMALL)
    cfg = SolverConfig(lr=0.5, steps=50_000, tol=1e-10, init_scale=0.3)  # the runs alone: test_deep_linear_mse_reaches_dnc's program
    batch = solve(p, cfg, seeds=range(8))
    stops = set()
    for r in batch:
        alone = solve(p, cfg, seeds=[r.seed])[0]
        # and a genuinely unbatched (no vmap, no lax.map) program
        p0 = jax.tree_util.tree_map(lambda a: a[0], initial_params(p, [r.seed], cfg))
        raw = jax.jit(run, static_argnums=(2, 3))(p0, p.decays, p.architecture, cfg)
        for other in (alone.params, raw.params):
            for x, y in zip(jax.tree_util.tree_leaves(r.params), jax.tree_util.tree_leaves(other)):
                assert np.max(np.abs(np.asarray(x) - np.asarray(y))) <= 1e-12 * max(1.0, np.max(np.abs(y)))
        assert alone.status == r.status and alone.steps == r.steps == int(raw.steps)
        assert abs(alone.loss - r.loss) <= 1e-12 * abs(r.loss)
        np.testing.assert_allclose(alone.history.loss, r.history.loss, rtol=1e-12)
        stops.add(r.steps)
    assert len(stops) > 1  # seeds stop at different steps: freezing inside the batch is exercised


def test_lambda_batch_equals_runs_alone():
    p = dufm.Problem(depth=2, weight_decay=1e-3, **SMALL)
    cfg = SolverConfig(lr=0.5, steps=10_000, init_scale=0.3)
    lams = np.array([1e-3, 3e-3, 1e-2])
    dec = Decays(lams, np.stack([lams, lams], axis=1), np.zeros(3))
    batch = solve(p, cfg, seeds=[0, 0, 0], decays=dec)
    for lam, r in zip(lams, batch):
        alone = solve(dufm.Problem(depth=2, weight_decay=lam, **SMALL), cfg, seeds=[0])[0]
        assert abs(alone.loss - r.loss) <= 1e-12 * alone.loss and alone.steps == r.steps


def test_large_learning_rate_is_reported_diverged():
    p = dufm.Problem(depth=2, weight_decay=1e-3, **SMALL)
    runs = solve(p, SolverConfig(lr=50.0, steps=10_000, init_scale=0.3), seeds=[0, 1, 2])
    for r in runs:
        assert r.status == "diverged" and r.diverged
        assert 0 < r.steps < 10_000
        assert r.loss is None and r.params is None
    # a sane rate on the same problem does not diverge
    ok = solve(p, SolverConfig(lr=0.5, steps=10_000, init_scale=0.3), seeds=[0])[0]
    assert ok.status != "diverged"


def test_step_limit_and_history():
    p = dufm.Problem(depth=2, weight_decay=1e-3, **SMALL)
    r = solve(p, SolverConfig(lr=0.5, steps=250, log_every=100, init_scale=0.3), seeds=[0])[0]
    assert r.status == "max_steps" and r.steps == 250
    assert list(r.history.step) == [0, 100, 200, 250]
    assert r.history.loss[-1] == r.loss and np.all(np.diff(r.history.loss) < 0)


def test_converged_run_stops_at_tolerance():
    p = dufm.Problem(depth=1, weight_decay=5e-3, **SMALL)
    r = solve(p, SolverConfig(lr=0.5, steps=50_000, tol=1e-6, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged" and r.grad_norm <= 1e-6
    # one step fewer and it has not converged yet: it stopped at the first step below tol
    early = solve(p, SolverConfig(lr=0.5, steps=r.steps - 1, tol=1e-6, init_scale=0.3), seeds=[0])[0]
    assert early.status == "max_steps" and early.grad_norm > 1e-6
    assert len(set(r.history.step)) == len(r.history.step)


def test_history_has_no_duplicate_final_entry():
    p = dufm.Problem(depth=1, weight_decay=5e-3, **SMALL)
    r = solve(p, SolverConfig(lr=0.5, steps=5000, tol=1e-4, log_every=1, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged"
    assert list(r.history.step) == list(range(r.steps + 1))


def test_float32_solver_converges_at_its_default_tolerance():
    p = dufm.Problem(depth=1, weight_decay=5e-3, dtype="float32", **SMALL)
    r = solve(p, SolverConfig(lr=0.5, steps=50_000, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged" and r.grad_norm <= 1e-5
    assert r.params.H.dtype == np.float32
    want = theory.dnc(dufm.Problem(depth=1, weight_decay=5e-3, **SMALL)).loss
    assert abs(r.loss - want) <= 1e-5 * want  # float32: about 1e-6 relative is what the format allows


def test_per_run_decays_are_validated():
    p = dufm.Problem(depth=3, weight_decay=1e-3, **SMALL)
    cfg = SolverConfig(steps=10)
    with pytest.raises(ValueError, match="decays.W"):
        solve(p, cfg, seeds=[0], decays=Decays(np.ones(1), np.ones((1, 1)), np.zeros(1)))
    with pytest.raises(ValueError, match="decays.H"):
        solve(p, cfg, seeds=[0], decays=Decays(-np.ones(1), np.ones((1, 3)), np.zeros(1)))
    with pytest.raises(ValueError, match="decays.b"):
        solve(p, cfg, seeds=[0], decays=Decays(np.ones(1), np.ones((1, 3)), np.ones(1)))


# slow: the optimiser variants, each a program of its own (momentum by default: test_one_batch_of_different_learning_rates_...)
@pytest.mark.parametrize("opt,lr", [pytest.param("momentum", 0.1, marks=pytest.mark.slow), pytest.param("adam", 1e-2, marks=pytest.mark.slow)])
def test_other_optimizers_reach_closed_form(opt, lr):
    p = dufm.Problem(depth=1, weight_decay=5e-3, **SMALL)
    r = solve(p, SolverConfig(optimizer=opt, lr=lr, steps=50_000, tol=1e-10, init_scale=0.3), seeds=[0])[0]
    assert r.status == "converged" and abs(r.loss - theory.dnc(p).loss) <= 1e-9 * r.loss


@pytest.mark.slow  # two problems of their own, 100 000-step limits (a solve with a bias by default: test_geometry)
def test_bias_variants_reach_dnc():
    for bias in ("free", "regularised"):
        p = dufm.Problem(depth=2, weight_decay=2e-3, bias=bias, bias_decay=0.1 if bias == "regularised" else 0.0, **SMALL)
        r = solve(p, SolverConfig(lr=0.5, steps=100_000, tol=1e-10, init_scale=0.3), seeds=[0])[0]
        assert r.status == "converged"
        assert abs(r.loss - theory.dnc(p).loss) <= 1e-9 * r.loss


@pytest.mark.slow  # a ReLU L = 3 variant of the history test (its NC1 rows: test_geometry, test_recorded_spectra_...)
def test_nc1_history_matches_geometry():
    p = dufm.Problem(depth=3, weight_decay=2e-3, activation="relu", **SMALL)
    r = solve(p, SolverConfig(lr=0.5, steps=500, log_every=100, init_scale=0.3), seeds=[1])[0]
    assert r.history.nc1.shape == (len(r.history.step), 3)
    a = analyse(r.params, p)
    want = [a.nc["H1"].nc1_trace, a.nc["sigma_H2"].nc1_trace, a.nc["sigma_H3"].nc1_trace]
    np.testing.assert_allclose(r.history.nc1[-1], want, rtol=1e-10)
    assert np.all(np.isfinite(r.history.nc1))


def test_run_many_is_the_one_batch_entry_point():
    """solve() = initial_params + run_many; decays broadcast, seeds are labels, padding is dropped."""
    p = dufm.Problem(depth=2, weight_decay=2e-3, loss="mse", **SMALL)
    cfg = SolverConfig(lr=0.5, steps=50_000, tol=1e-5, init_scale=0.3)  # stops at 5444, 5708, 5712
    seeds = [3, 4, 5]
    via_solve = solve(p, cfg, seeds=seeds)
    params0 = initial_params(p, seeds, cfg)
    bare = run_many(params0, p.decays, p.architecture, cfg)  # unbatched decays are broadcast; no seeds: no labels
    padded = run_many(params0, p.decays.broadcast(3), p.architecture, cfg, seeds=seeds, pad_to=8)
    assert len(bare) == len(padded) == 3 and len({r.steps for r in via_solve}) > 1
    for a, b, c in zip(via_solve, bare, padded):
        assert b.seed is None and c.seed == a.seed
        for other in (b, c):
            assert other.status == a.status and other.steps == a.steps and other.device
            assert abs(other.loss - a.loss) <= 1e-12 * a.loss
            np.testing.assert_array_equal(other.history.step, a.history.step)
            np.testing.assert_allclose(other.params.H, a.params.H, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="seeds must give one seed per run"):
        run_many(params0, p.decays, p.architecture, cfg, seeds=[1])


def test_status_enumeration():
    from dufm.solving.solver import Status

    assert [s.code for s in Status] == [0, 1, 2, 3, 4, 5]  # loss_threshold, then max_time appended: the earlier codes stay
    assert Status.from_code(5) is Status.MAX_TIME and Status.MAX_TIME == "max_time"
    assert all(Status.from_code(s.code) is s for s in Status)
    assert Status.CONVERGED == "converged" and str(Status.MAX_STEPS) == "max_steps"
    import json

    assert json.dumps({"status": Status.DIVERGED}) == '{"status": "diverged"}'


def test_one_batch_of_different_learning_rates_tolerances_step_limits_and_optimiser_numbers_equals_the_runs_alone():
    """Hyper's numbers are inputs of one program: a member with its own lr, tol, steps, momentum and divergence factor
    ends exactly where it ends alone (a batch of one: another compiled program). The step limits are of one octave, so
    that the runs alone share one program (ProgramKey)."""
    p = dufm.Problem(depth=2, weight_decay=2e-3, loss="mse", **SMALL)
    cfgs = [SolverConfig(optimizer="momentum", lr=lr, tol=tol, steps=steps, momentum=m, init_scale=0.3, log_every=50)
            for lr, tol, steps, m in [(0.05, 1e-6, 6000, 0.9), (0.2, 1e-9, 3300, 0.5), (0.1, 1e-2, 5000, 0.0),
                                      (0.4, 1e-12, 3500, 0.9)]]
    cfgs.append(SolverConfig(optimizer="momentum", lr=80.0, steps=4000, momentum=0.9, init_scale=0.3, log_every=50,
                             divergence_factor=10.0))
    # the starts of the runs alone (seed i), stacked
    params0 = dufm.Params.stack([initial_params(p, [i], cfgs[0]).member(0) for i in range(len(cfgs))])
    batch = run_many(params0, p.decays, p.architecture, cfgs, seeds=list(range(len(cfgs))))
    assert {r.status for r in batch} == {"converged", "max_steps", "diverged"}
    for i, (cfg, r) in enumerate(zip(cfgs, batch)):
        alone = solve(p, cfg, seeds=[i])[0]
        assert (alone.status, alone.steps, alone.loss) == (r.status, r.steps, r.loss)
        np.testing.assert_array_equal(alone.history.step, r.history.step)
        np.testing.assert_array_equal(alone.history.loss, r.history.loss)
    with pytest.raises(ValueError, match="the runs of one batch must share optimizer"):
        run_many(params0, p.decays, p.architecture, cfgs[:-1] + [SolverConfig(optimizer="gd")])
    with pytest.raises(ValueError, match=r"cfg must be one SolverConfig or one per run \(5\), got 2"):
        run_many(params0, p.decays, p.architecture, cfgs[:2])


@pytest.mark.parametrize("dtype, precision, want", [("float32", "highest", {"HIGHEST"}), ("float32", "default", {"DEFAULT"}),
                                                    ("float64", "default", set())])
def test_float32_products_run_at_full_precision_unless_asked(dtype, precision, want):
    import re

    p = dufm.Problem(dtype=dtype, **SMALL)
    p0 = dufm.initialise(jax.random.PRNGKey(0), p.architecture, 0.1)
    cfg = SolverConfig(steps=10) if precision == "highest" else SolverConfig(steps=10, matmul_precision=precision)
    text = str(jax.make_jaxpr(lambda x: run(x, p.decays, p.architecture, cfg))(p0))
    assert text.count("dot_general") > 10
    assert set(re.findall(r"precision=\(Precision\.(\w+),", text)) == want
    assert "matmul_precision" not in SolverConfig().to_dict() and SolverConfig(matmul_precision="high").to_dict()["matmul_precision"] == "high"


# ---------------------------------------------------------------------------
# recorded spectra (SolverConfig.spectra)

TINY = dict(classes=3, per_class=2, width=4, depth=2, weight_decay=0.002)
SPECTRA_CFG = dict(steps=1000, tol=1e-3, init_scale=0.3, log_every=50)  # seeds 0-3 stop at different steps (376-1000 over the cases below)
SPECTRA_SEEDS = [0, 1, 2, 3]  # four starts: the tiny sweep's starts program


def numpy_matrices(params, problem) -> dict:
    """Z (without bias), H_l, sigma(H_l) (ReLU, l >= 2), W_l from the parameters, by the definitions of docs/conventions.md."""
    relu = problem.activation == "relu"
    Ws = [np.asarray(w, np.float64) for w in params.W]
    H = [np.asarray(params.H, np.float64)]
    for W in Ws[:-1]:
        x = np.maximum(H[-1], 0) if relu and len(H) > 1 else H[-1]
        H.append(W @ x)
    out = {"Z": Ws[-1] @ (np.maximum(H[-1], 0) if relu and len(H) > 1 else H[-1])}
    for l, h in enumerate(H, start=1):
        out[f"H{l}"] = h
        if relu and l > 1:
            out[f"sigma_H{l}"] = np.maximum(h, 0)
    out.update({f"W{l}": w for l, w in enumerate(Ws, start=1)})
    return out


def assert_spectra_of(row: dict, params, problem):
    """Each recorded row equals numpy's singular values of the same matrix to 1e-12 of its largest."""
    mats = numpy_matrices(params, problem)
    for k, s in row.items():
        want = np.linalg.svd(mats[k], compute_uv=False)
        assert s.shape == want.shape, k
        assert np.max(np.abs(s - want)) <= 1e-12 * want[0], (k, s, want)


# ReLU CE moves slower: a looser tolerance, so that its members stop at different steps too
# slow: the variants (each compiles two programs of its own); by default CE's record of every layer
@pytest.mark.parametrize("loss,act,which,tol", [("ce", "linear", "layers", 1e-3), pytest.param("mse", "relu", "layers", 1e-3, marks=pytest.mark.slow),
                                                pytest.param("mse", "linear", "output", 1e-3, marks=pytest.mark.slow),
                                                pytest.param("ce", "relu", "output", 1.2e-3, marks=pytest.mark.slow)])
def test_recorded_spectra_are_those_of_the_points_of_the_run(loss, act, which, tol):
    """First row: the start; last row: the end point; rows at steps 0, k, 2k, ...; a batch member equals its run alone."""
    p = dufm.Problem(loss=loss, activation=act, **TINY)
    cfg = SolverConfig(spectra=which, **{**SPECTRA_CFG, "tol": tol})
    seeds = SPECTRA_SEEDS
    batch = solve(p, cfg, seeds=seeds)
    starts = initial_params(p, seeds, cfg)
    names = ["Z"] + (["H1", "H2"] + (["sigma_H2"] if act == "relu" else []) + ["W1", "W2"] if which == "layers" else [])
    assert len({r.steps for r in batch}) > 1  # members stop at different steps: the frozen ones keep their record
    for i, r in enumerate(batch):
        h = r.history
        assert list(h.sv) == names and list(h.sv) == [k for k in analyse(r.params, p).singular_values if k in h.sv]
        T = len(h.step)
        assert all(s.shape == (T, min(numpy_matrices(r.params, p)[k].shape)) for k, s in h.sv.items())
        np.testing.assert_array_equal(h.step[:-1], 50 * np.arange(T - 1))
        assert h.step[-1] == r.steps and h.step[-1] > h.step[-2]
        assert_spectra_of({k: s[-1] for k, s in h.sv.items()}, r.params, p)
        assert_spectra_of({k: s[0] for k, s in h.sv.items()}, starts.member(i), p)
        assert all(np.all(np.isfinite(s)) for s in h.sv.values())
        alone = solve(p, cfg, seeds=[r.seed])[0]
        assert alone.steps == r.steps
        for k, s in h.sv.items():
            assert np.max(np.abs(alone.history.sv[k] - s)) <= 1e-12 * np.max(s), k


@pytest.mark.slow  # vmap (the GPU's batching; opt-in on a CPU): two programs of its own
def test_recorded_spectra_of_a_vmapped_batch_equal_the_runs_alone():
    """Under vmap the loop runs on for every member until the last stops: a stopped member's record must end where it
    ended (the map path, one device and sharded, is covered above)."""
    p = dufm.Problem(loss="ce", activation="linear", **TINY)
    cfg = SolverConfig(spectra="layers", **SPECTRA_CFG)
    mapped = solve(p, cfg, seeds=SPECTRA_SEEDS)
    for devices in (jax.local_devices()[:1], None):
        vmapped = solve(p, cfg, seeds=SPECTRA_SEEDS, batching="vmap", devices=devices)
        assert len({r.steps for r in vmapped}) > 1
        for a, b in zip(mapped, vmapped):
            np.testing.assert_array_equal(a.history.step, b.history.step)
            for k, s in a.history.sv.items():
                assert np.max(np.abs(b.history.sv[k] - s)) <= 1e-12 * np.max(s), k
            assert_spectra_of({k: s[-1] for k, s in b.history.sv.items()}, b.params, p)


def test_recording_spectra_leaves_the_run_unchanged_bit_for_bit():
    """spectra = none is the solver as it was (no record); recording changes no number of the run itself."""
    p = dufm.Problem(loss="ce", activation="linear", **TINY)
    jsonable = solve(p, SolverConfig(**SPECTRA_CFG), seeds=SPECTRA_SEEDS)
    recorded = solve(p, SolverConfig(spectra="layers", **SPECTRA_CFG), seeds=SPECTRA_SEEDS)
    for a, b in zip(jsonable, recorded):
        assert a.history.sv == {} and len(b.history.sv) == 5
        assert (a.status, a.steps, a.loss, a.grad_norm) == (b.status, b.steps, b.loss, b.grad_norm)
        for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(a.history[:4], b.history[:4]):
            np.testing.assert_array_equal(x, y)


def test_a_diverged_run_keeps_its_recorded_spectra():
    p = dufm.Problem(loss="ce", **TINY)  # a run alone of test_recorded_spectra_are_those_of_the_points_of_the_run's program
    r = solve(p, SolverConfig(**{**SPECTRA_CFG, "lr": 50.0, "spectra": "layers"}), seeds=[0])[0]
    assert r.diverged and r.params is None
    sv = r.history.sv["Z"]
    assert sv.shape == (len(r.history.step), 3) and np.all(np.isfinite(sv[0]))
    assert_spectra_of({"Z": sv[0]}, initial_params(p, [0], SolverConfig(init_scale=0.3)).member(0), p)


def test_the_spectra_record_is_bounded():
    from dufm.solving.budget import history_rows, memory_bytes
    from dufm.solving.solver import MAX_SPECTRUM_VALUES, layout

    p = dufm.Problem(classes=10, per_class=100, width=500, depth=3)  # layers: 10 + 3 x 500 + 500 + 500 + 10 values a record
    cfg = SolverConfig(steps=100_000, log_every=10, spectra="layers")
    with pytest.raises(ValueError, match=r"log_every must be >= 25 to record spectra = 'layers' of this problem "
                                         r"over 100000 steps \(2520 singular values a record"):
        layout(p.architecture, cfg, 1)
    assert history_rows(100_000, 25) * 2520 <= MAX_SPECTRUM_VALUES < history_rows(100_000, 24) * 2520  # 25 is the least
    layout(p.architecture, SolverConfig(steps=100_000, log_every=25, spectra="layers"), 1)
    layout(p.architecture, SolverConfig(steps=100_000, log_every=10), 1)  # nothing recorded, nothing to bound
    # the memory estimate holds the record: 8 bytes per singular value per row, per run
    extra = memory_bytes(p.architecture, "gd", 1000, 10, 3, 1, "layers") - memory_bytes(p.architecture, "gd", 1000, 10, 3, 1)
    assert extra == 8 * 3 * 128 * 2520


def test_a_record_too_wide_for_any_interval_names_spectra(monkeypatch):
    from dufm.solving import config as config_module
    from dufm.solving import solver as solve_module

    p = dufm.Problem(**TINY)  # layers: 3 + 4 + 4 + 4 + 3 = 18 values a record
    monkeypatch.setattr(config_module, "MAX_SPECTRUM_VALUES", 35)  # not two rows of 18
    with pytest.raises(ValueError, match=r"spectra must be 'output' or 'none' for this problem: 'layers' records 18 singular"):
        solve_module.layout(p.architecture, SolverConfig(steps=10, spectra="layers"), 1)
    solve_module.layout(p.architecture, SolverConfig(steps=10, spectra="output"), 1)
