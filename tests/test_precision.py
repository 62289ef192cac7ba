"""float64 without a process-wide switch: dufm's entry points give float64 results with JAX's 64-bit mode off.

The suite runs with the mode on (conftest.py); every test here turns it off
around the calls, as a process that only imported dufm has it.
"""

import subprocess
import sys

import jax
import numpy as np
import pytest

import dufm
from dufm import critical, hessian, theory

P = dufm.Problem(classes=4, per_class=3, width=6, depth=2, weight_decay=0.01)
CFG = dufm.SolverConfig(steps=10_000, init_scale=0.3)  # 3 seeds, 10 000 steps: test_solve's program for this problem


def test_entry_points_compute_in_float64_with_the_mode_off():
    with_mode = dufm.solve(P, CFG, seeds=[0, 1, 2])
    dnc = theory.dnc(P)
    with jax.enable_x64(False):
        runs = dufm.solve(P, CFG, seeds=[0, 1, 2])
        assert not jax.config.jax_enable_x64  # restored after the call
        loss = dufm.objective(dnc.params, P.decays, P.architecture)
        a = dufm.analyse(runs[0].params, P)
        H = hessian.hessian_matrix(dnc.params, P.decays, P.architecture)
        c = critical.classify(dnc.params, P.decays, P.architecture, method="dense")
        ref = critical.refine(dnc.params, P.decays, P.architecture, tol=1e-12)
        matvec, _ = hessian.operator(dnc.params, P.decays, P.architecture)
        hv = matvec(np.ones(P.parameter_count))
    for r, w in zip(runs, with_mode):  # the same compiled program: bitwise equal
        assert r.params.H.dtype == np.float64 and r.loss == w.loss and r.steps == w.steps
        np.testing.assert_array_equal(r.params.W[0], w.params.W[0])
    assert loss.dtype == np.float64 and float(loss) == pytest.approx(dnc.loss, rel=1e-13)
    assert a.solution_type == dufm.analyse(with_mode[0].params, P).solution_type
    assert H.dtype == np.float64 and c.grad_norm <= 1e-12 and c.loss == pytest.approx(dnc.loss, rel=1e-13)
    assert ref.status == "converged" and hv.dtype == np.float64
    np.testing.assert_allclose(np.asarray(hv), H @ np.ones(P.parameter_count), rtol=1e-12, atol=1e-12)


def test_float64_problem_meeting_float32_arrays_is_an_error_not_a_float32_result():
    dnc = theory.dnc(P)
    with jax.enable_x64(False):
        # the user's own transformation traces float32 before dufm is entered
        with pytest.raises(ValueError, match="params of a float64 problem must be float64"):
            jax.grad(lambda q: dufm.objective(q, P.decays, P.architecture))(dnc.params)


@pytest.mark.slow  # a new Python process that compiles a solve (real-process smoke tests by default: test_cli, test_api, test_failures)
def test_import_changes_no_process_state_and_solve_is_float64():
    code = ("import os, matplotlib; b = matplotlib.get_backend(); import dufm, dufm.plots, jax; "
            "r = dufm.solve(dufm.Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01), "
            "dufm.SolverConfig(steps=50))[0]; "
            "print(os.environ.get('XLA_FLAGS'), b == matplotlib.get_backend(), jax.config.jax_enable_x64, r.params.H.dtype, "
            "jax.device_count())")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("XLA_FLAGS", "MPLBACKEND", "JAX_ENABLE_X64")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "True", "False", "float64", "1"]
