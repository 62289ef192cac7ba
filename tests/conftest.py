"""Test configuration, as optimistix does it: float64 for the whole suite.

dufm's own entry points scope float64 themselves (dufm.runtime); the tests
also build JAX arrays and transformations of their own, so the suite turns
JAX's 64-bit mode on for its process (tests/test_precision.py checks dufm with
it off). The suite also makes one JAX CPU device per core, as the ``dufm``
command does, so that batches are sharded in every test whatever runs first.

Compiled programs go to one persistent compilation cache for the suite's
processes and the ``dufm`` commands they start (``DUFM_CACHE_DIR``, unless the
caller set one): a program is compiled once per machine, not once per test
process. Entries are keyed by JAX on the program, versions and options, so an
entry from an earlier run is the program the compiler would build;
tests/test_cache.py checks that results do not depend on the cache.
"""

import os
import tempfile

import jax
import pytest

import dufm

os.environ.setdefault("DUFM_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"dufm-tests-{os.getuid()}"))
jax.config.update("jax_enable_x64", True)
dufm.use_cpu_cores()
dufm.use_compilation_cache()


def once_per_session(tmp_path_factory, name: str, compute):
    """``compute()``, computed by one process of the test session and read by the others (pytest-xdist's workers): the
    result is pickled into the session's shared temporary directory, behind a file lock (pytest-xdist's recipe for a
    session fixture that should run once)."""
    import fcntl
    import pickle

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's directory, above each worker's own
    path = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def fig1_seed0(tmp_path_factory):
    """Fig 1 (helpers.FIG1), seed 0, GD lr 0.5 from init std 0.1: (problem, run to |grad| <= 1e-4, run to |grad| <= 1e-10).

    The two runs are one batch from the same start (the tolerance is an input of the compiled program): the first stops
    at a GD end point (20 342 steps), the second goes on to the critical point, the low-rank solution. Several test
    files use them; the batch is solved once per session (once_per_session).
    """
    from helpers import FIG1

    from dufm.solving.solver import SolverConfig, initial_params, run_many

    p = dufm.Problem(**FIG1)

    def solve():
        cfgs = [SolverConfig(lr=0.5, steps=100_000, tol=tol, init_scale=0.1) for tol in (1e-4, 1e-10)]
        return run_many(initial_params(p, [0, 0], cfgs[0]), p.decays, p.architecture, cfgs, seeds=[0, 0])

    early, full = once_per_session(tmp_path_factory, "fig1_seed0", solve)
    return p, early, full


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
