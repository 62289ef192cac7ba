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


@pytest.fixture(scope="session")
def fig1_seed0():
    """Fig 1 (helpers.FIG1), seed 0, GD lr 0.5 from init std 0.1: (problem, run to |grad| <= 1e-4, run to |grad| <= 1e-10).

    The two runs are one batch from the same start (the tolerance is an input of the compiled program): the first stops
    at a GD end point (20 342 steps), the second goes on to the critical point, the low-rank solution. Several test
    files use them; the batch is solved once per test process.
    """
    from helpers import FIG1

    from dufm.solving.solver import SolverConfig, initial_params, run_many

    p = dufm.Problem(**FIG1)
    cfgs = [SolverConfig(lr=0.5, steps=100_000, tol=tol, init_scale=0.1) for tol in (1e-4, 1e-10)]
    early, full = run_many(initial_params(p, [0, 0], cfgs[0]), p.decays, p.architecture, cfgs, seeds=[0, 0])
    return p, early, full


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
